"""Names, places and words the simulator draws from.

Hand-written lists with the spread of origins a UK local authority sees. A
surname written "A|B" or "A|B|C" is gendered: the male form, the form for a
daughter, and (when given) the form a married woman uses (Polish -ski/-ska,
Lithuanian -as/-aitė/-ienė, Irish Ó/Ní, Sikh Singh/Kaur, Bangladeshi Miah/Begum).
So siblings and parents can legitimately carry different surnames.
"""

# ruff: noqa: RUF001  (Turkish names spell the dotless i on purpose)
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    code: str
    weight: float  # share of households in the simulated LA
    female: tuple[str, ...]
    male: tuple[str, ...]
    surnames: tuple[str, ...]


# fmt: off
ORIGINS: tuple[Origin, ...] = (
    Origin(
        "british",
        40.0,
        female=(
            "Olivia", "Amelia", "Isla", "Ava", "Ivy", "Freya", "Lily", "Florence", "Mia",
            "Willow", "Rosie", "Sophia", "Isabella", "Grace", "Daisy", "Sienna", "Poppy",
            "Elsie", "Emily", "Ella", "Evelyn", "Phoebe", "Sophie", "Evie", "Harper",
            "Matilda", "Charlotte", "Millie", "Eliza", "Zoë", "Chloe", "Jessica", "Hannah",
            "Ruby", "Megan", "Lucy", "Katie", "Emma", "Sarah", "Rebecca", "Elizabeth",
            "Katherine", "Victoria", "Josephine", "Eleanor", "Alexandra", "Abigail",
            "Margaret", "Jennifer", "Rachel", "Laura", "Gemma", "Nicola", "Claire",
            "Joanne", "Helen", "Imogen", "Beatrice", "Harriet", "Martha", "Edith", "Maisie",
        ),
        male=(
            "Oliver", "George", "Noah", "Arthur", "Leo", "Oscar", "Harry", "Archie", "Jack",
            "Henry", "Charlie", "Freddie", "Theodore", "Thomas", "Finley", "Alfie", "Jacob",
            "William", "James", "Edward", "Samuel", "Joshua", "Benjamin", "Daniel",
            "Alexander", "Christopher", "Jonathan", "Nicholas", "Matthew", "Robert",
            "Michael", "David", "Andrew", "Richard", "Stephen", "Mark", "Paul", "Lee",
            "Gareth", "Jamie", "Toby", "Reuben", "Ezra", "Albie", "Teddy", "Louie", "Rory",
            "Max", "Ethan", "Dylan", "Harrison", "Lewis", "Kieran", "Stanley", "Hugo",
        ),
        surnames=(
            "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
            "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker",
            "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke",
            "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris",
            "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen",
            "James", "Scott", "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett",
            "Young", "Griffiths", "Mitchell", "Cook", "Carter", "Richardson", "Bailey",
            "Collins", "Bell", "Shaw", "Cox", "Richards", "Marshall", "Anderson",
            "Simpson", "Ellis", "Adams", "Wilkinson", "Foster", "Chapman", "Powell",
            "Webb", "Rogers", "Gray", "Mason", "Hunt", "Matthews", "Owen", "Palmer",
            "Holmes", "Mills", "Barnes", "Knight", "Lloyd", "Butler", "Russell", "Barker",
            "Fisher", "Stevens", "Jenkins", "Dixon", "Harvey", "Pearson", "Fletcher",
            "Gibson", "Howard", "Andrews", "Elliott", "Reynolds", "Saunders", "Payne",
            "Fox", "Ford", "Pearce", "Day", "Brooks", "West", "Lawrence", "Cole",
            "Atkinson", "Bradley", "Spencer", "Dawson", "Ball", "Burton", "Watts", "Rose",
            "Booth", "Perry", "Wells", "Armstrong", "Hayes", "Hart", "Hudson", "Newman",
            "Barrett", "Webster", "Hunter", "Gregory", "Carr", "Lowe", "Page", "Marsh",
            "Riley", "Dunn", "Woods", "Parsons", "Berry", "Stone", "Holland", "Hawkins",
            "Harding", "Porter", "Newton", "Reed", "Bird", "Gardner", "Dean", "Lane",
            "Cooke", "Bates", "Burgess", "Bishop", "Walton", "Nicholson", "Shepherd",
            "Cross", "Long", "Freeman", "Warren", "Nicholls", "Sutton", "Yates", "Robson",
            "Curtis", "Hopkins", "Coleman", "Watkins", "Moss", "Chambers", "Griffin",
            "Sharp", "Hardy", "Wheeler", "Potter", "Osborne", "Smith-Jones", "Taylor-Wood",
            "Ashworth-Clarke", "Bowen-Price", "Fox-Lane", "Hughes-Morgan", "De'Ath",
            "St John", "ffrench", "le Roux", "Featherstonehaugh",
        ),
    ),
    Origin(
        "irish",
        5.0,
        female=(
            "Aoife", "Siobhán", "Niamh", "Saoirse", "Caoimhe", "Róisín", "Orla", "Ciara",
            "Clodagh", "Sinéad", "Aisling", "Gráinne", "Máire", "Bríd", "Éabha", "Méabh",
        ),
        male=(
            "Seán", "Ciarán", "Oisín", "Cian", "Darragh", "Pádraig", "Eoin", "Rónán",
            "Tadhg", "Cathal", "Fionn", "Conor", "Liam", "Niall", "Colm", "Déaglán",
        ),
        surnames=(
            "O'Brien", "O'Neill", "O'Sullivan", "O'Connor", "Murphy", "Kelly", "Byrne",
            "Ryan", "Walsh", "McCarthy", "Doyle", "Gallagher", "Kavanagh", "Fitzgerald",
            "D'Arcy", "Quinn", "Brennan", "Nolan", "O'Donnell", "McGuinness",
            "Ó Briain|Ní Bhriain", "Ó Súilleabháin|Ní Shúilleabháin",
            "Mac Cárthaigh|Nic Cárthaigh", "Ó Néill|Ní Néill",
        ),
    ),
    Origin(
        "scottish_welsh",
        4.0,
        female=(
            "Eilidh", "Mhairi", "Catriona", "Kirsty", "Ailsa", "Morven", "Cerys", "Seren",
            "Ffion", "Angharad", "Gwenllian", "Eira", "Nia", "Mali",
        ),
        male=(
            "Callum", "Hamish", "Ruaraidh", "Angus", "Fraser", "Euan", "Rhys", "Dafydd",
            "Gethin", "Ioan", "Osian", "Llŷr", "Emyr", "Iestyn",
        ),
        surnames=(
            "MacDonald", "McLeod", "MacKenzie", "Fraser", "Campbell", "Stewart",
            "Robertson", "Munro", "Sinclair", "Mackintosh", "Llewellyn", "Pryce", "Rhys",
            "Gruffydd", "ap Gwilym", "Vaughan", "Bowen", "Pritchard",
        ),
    ),
    Origin(
        "south_asian",
        12.0,
        female=(
            "Aisha", "Fatima", "Zara", "Maryam", "Ayesha", "Hafsa", "Anaya", "Priya", "Diya",
            "Saanvi", "Aanya", "Ananya", "Riya", "Simran", "Harleen", "Gurleen", "Nusrat",
            "Tahmina", "Sumaiya", "Inaya", "Amira", "Noor", "Khadija", "Zainab", "Iqra",
            "Meera", "Kavya", "Ishani",
        ),
        male=(
            "Muhammad", "Mohammed", "Ibrahim", "Yusuf", "Ayaan", "Zayn", "Hamza", "Aryan",
            "Arjun", "Rohan", "Vihaan", "Krish", "Dev", "Harjot", "Gurpreet", "Manpreet",
            "Rahim", "Tanvir", "Rayyan", "Zakariya", "Abdul-Rahman", "Aarav", "Kabir",
            "Ishaan", "Faisal", "Imran",
        ),
        surnames=(
            "Patel", "Shah", "Khan", "Ahmed", "Hussain", "Ali", "Akhtar", "Iqbal", "Rahman",
            "Chowdhury", "Islam", "Sharma", "Gupta", "Mistry", "Desai", "Joshi", "Kumar",
            "Malik", "Mahmood", "Qureshi", "Siddiqui", "Hossain", "Sandhu", "Gill",
            "Dhillon", "Bains", "Sidhu", "Rai", "Thakkar", "Chauhan", "Parmar", "Solanki",
            "Nair", "Pillai", "Krishnan", "Perera", "Fernando", "Sivakumar", "D'Souza",
            "D'Mello", "Singh|Kaur|Kaur", "Miah|Begum|Begum", "Uddin|Begum|Begum",
        ),
    ),
    Origin(
        "west_african",
        8.0,
        female=(
            "Oluwaseun", "Adaeze", "Chiamaka", "Chidinma", "Ngozi", "Folake", "Funmilayo",
            "Temitope", "Oluwatoyin", "Ifeoma", "Ama", "Akosua", "Efua", "Abena", "Esi",
            "Precious", "Blessing", "Favour", "Deborah", "Mercy", "Oluwadamilola",
            "Ayomide", "Oyinkansola",
        ),
        male=(
            "Oluwaseun", "Oluwatobiloba", "Oluwafemi", "Adebayo", "Chukwuemeka", "Chinedu",
            "Obinna", "Babatunde", "Olamide", "Kwame", "Kofi", "Kwabena", "Yaw", "Kojo",
            "Emmanuel", "Jeremiah", "Samuel", "David", "Daniel", "Ayodele", "Tobenna",
        ),
        surnames=(
            "Okafor", "Adeyemi", "Okonkwo", "Oyelaran", "Adebayo", "Balogun", "Eze",
            "Nwosu", "Obi", "Olawale", "Akinola", "Afolabi", "Ogunleye", "Chukwu",
            "Mensah", "Asante", "Boateng", "Owusu", "Osei", "Appiah", "Adjei", "Agyeman",
            "Adeleke-Johnson", "Oyinlola", "Nnamdi", "Ogundipe",
        ),
    ),
    Origin(
        "east_african",
        3.0,
        female=(
            "Hodan", "Amina", "Sahra", "Ayan", "Fardowsa", "Hibo", "Ikran", "Selam",
            "Meron", "Hamdi",
        ),
        male=(
            "Abdirahman", "Abdullahi", "Mohamed", "Ahmed", "Yusuf", "Hassan", "Liban",
            "Samatar", "Dawit", "Yonas", "Abdiwali",
        ),
        surnames=(
            "Mohamed", "Ali", "Hassan", "Abdi", "Farah", "Warsame", "Osman", "Jama", "Nur",
            "Yusuf", "Tesfaye", "Haile", "Gebremedhin", "Abdullahi",
        ),
    ),
    Origin(
        "caribbean",
        4.0,
        female=("Shanice", "Tiana", "Jada", "Kayla", "Aaliyah", "Chantelle", "Keisha", "Naomi"),
        male=("Tyrone", "Jermaine", "Marcus", "Kai", "Malachi", "Nathaniel", "Tyrese", "Elijah"),
        surnames=(
            "Campbell", "Brown", "Williams", "Clarke", "Grant", "Thompson", "Forbes", "Reid",
            "McKenzie", "Bailey", "Francis", "Henry", "Lindo", "Beckford",
        ),
    ),
    Origin(
        "polish",
        5.0,
        female=(
            "Zuzanna", "Julia", "Maja", "Zofia", "Hanna", "Lena", "Aleksandra", "Amelia",
            "Oliwia", "Alicja", "Małgorzata", "Agnieszka", "Katarzyna", "Magdalena",
            "Joanna",
        ),
        male=(
            "Łukasz", "Jakub", "Antoni", "Szymon", "Jan", "Filip", "Franciszek", "Mikołaj",
            "Wojciech", "Kacper", "Piotr", "Tomasz", "Paweł", "Krzysztof", "Michał",
        ),
        surnames=(
            "Kowalski|Kowalska", "Nowak", "Wiśniewski|Wiśniewska", "Wójcik", "Kowalczyk",
            "Kamiński|Kamińska", "Lewandowski|Lewandowska", "Zieliński|Zielińska",
            "Szymański|Szymańska", "Woźniak", "Dąbrowski|Dąbrowska", "Kozłowski|Kozłowska",
            "Jankowski|Jankowska", "Mazur", "Krawczyk", "Piotrowski|Piotrowska",
            "Grabowski|Grabowska", "Pawłowski|Pawłowska", "Król", "Wieczorek",
            "Jabłoński|Jabłońska", "Wróbel", "Nowicki|Nowicka", "Stępień", "Sikora",
        ),
    ),
    Origin(
        "lithuanian",
        1.0,
        female=("Gabija", "Austėja", "Emilija", "Ugnė", "Kamilė", "Rūta"),
        male=("Jokūbas", "Matas", "Lukas", "Dominykas", "Nojus", "Žygimantas"),
        surnames=(
            "Kazlauskas|Kazlauskaitė|Kazlauskienė", "Jankauskas|Jankauskaitė|Jankauskienė",
            "Petrauskas|Petrauskaitė|Petrauskienė", "Stankevičius|Stankevičiūtė|Stankevičienė",
            "Žukauskas|Žukauskaitė|Žukauskienė", "Butkus|Butkutė|Butkienė",
        ),
    ),
    Origin(
        "romanian_bulgarian",
        3.0,
        female=(
            "Ioana", "Andreea", "Maria", "Elena", "Alexandra", "Bianca", "Ștefania", "Daria",
            "Yana", "Viktoria", "Nikol",
        ),
        male=(
            "Ștefan", "Andrei", "Alexandru", "Mihai", "Ionuț", "Răzvan", "Matei", "Georgi",
            "Ivan", "Kaloyan",
        ),
        surnames=(
            "Popescu", "Ionescu", "Popa", "Constantin", "Stoica", "Dumitrescu", "Munteanu",
            "Rădulescu", "Țurcanu", "Niculescu", "Georgescu", "Moldovan", "Lungu",
            "Ivanov|Ivanova|Ivanova", "Petrov|Petrova|Petrova", "Georgiev|Georgieva|Georgieva",
            "Dimitrov|Dimitrova|Dimitrova",
        ),
    ),
    Origin(
        "iberian",
        3.0,
        female=(
            "Inês", "Beatriz", "Leonor", "Mariana", "Matilde", "Lucía", "Sofía", "Valentina",
            "Ana Clara", "María José",
        ),
        male=(
            "João", "José", "Tiago", "Rodrigo", "Martim", "Gonçalo", "Mateo", "Álvaro",
            "Hugo", "João Pedro",
        ),
        surnames=(
            "da Silva", "dos Santos", "Ferreira", "Pereira", "Oliveira", "Costa",
            "Rodrigues", "Martins", "Gonçalves", "Sousa", "Fernández", "García", "López",
            "Martínez", "Sánchez", "Pérez", "de la Cruz", "Muñoz",
        ),
    ),
    Origin(
        "european",
        3.0,
        female=(
            "Giulia", "Chiara", "Francesca", "Renée", "Chloé", "Anaïs", "Noémie", "Élodie",
            "Maëlle", "Eleni", "Anouk", "Lotte", "Ingrid", "Frida", "Annika",
        ),
        male=(
            "Matteo", "Lorenzo", "Giuseppe", "François", "Jérôme", "Théo", "Noël", "Loïc",
            "Giorgos", "Nikos", "Dimitrios", "Björn", "Søren", "Lars", "Jonas",
        ),
        surnames=(
            "Rossi", "Russo", "Esposito", "Bianchi", "Romano", "De Luca", "D'Angelo",
            "Lefèvre", "Dubois", "Moreau", "Laurent", "Girard", "Benoît",
            "Papadopoulos|Papadopoulou|Papadopoulou", "Georgiou",
            "Nikolaidis|Nikolaidou|Nikolaidou", "van der Berg", "de Vries", "van Dijk",
            "Janssen", "Müller", "Schmidt", "Weiß", "Jørgensen", "Andersson", "ter Horst",
        ),
    ),
    Origin(
        "turkish",
        2.0,
        female=("Elif", "Zeynep", "Ayşe", "Defne", "Çağla", "Gülşen", "Büşra", "Şevval", "İrem"),
        male=("Emre", "Yusuf", "Mustafa", "Mehmet", "Efe", "Çağan", "Barış", "Oğuz", "İbrahim"),
        surnames=(
            "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Öztürk", "Aydın",
            "Özdemir", "Arslan", "Doğan", "Kılıç", "Çetin", "Koç",
        ),
    ),
    Origin(
        "arabic",
        2.0,
        female=("Layla", "Mariam", "Yasmin", "Nour", "Salma", "Huda", "Rania", "Lina", "Hala"),
        male=(
            "Omar", "Ali", "Karim", "Tariq", "Youssef", "Khalid", "Ahmad", "Hadi", "Sami", "Adam",
        ),
        surnames=(
            "Al-Sayed", "El-Amin", "Haddad", "Khoury", "Nasser", "Abdallah", "Al-Rashid",
            "Saleh", "Mansour", "Farouk", "Al Masri",
        ),
    ),
    Origin(
        "east_asian",
        3.0,
        female=(
            "Mei", "Xinyi", "Yuxin", "Jiayi", "Zixuan", "Yutong", "Wing Yan", "Linh", "Mai",
            "Ngọc", "Thảo", "Trang",
        ),
        male=(
            "Wei", "Hao", "Jun", "Zihan", "Yichen", "Chun Kit", "Minh", "Huy", "Khoa",
            "Đức", "Bảo",
        ),
        surnames=(
            "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
            "Wong", "Chan", "Cheung", "Lam", "Ng", "Leung", "Lau", "Nguyễn", "Trần", "Lê",
            "Phạm", "Hoàng", "Đặng",
        ),
    ),
    Origin(
        "filipino",
        1.0,
        female=("Angelica", "Princess", "Jasmine", "Kristine", "Maria Luisa"),
        male=("Mark Anthony", "John Paul", "Jerome", "Christian", "Rommel"),
        surnames=(
            "Santos", "Reyes", "Cruz", "Bautista", "Dela Cruz", "Garcia", "Mendoza", "Villanueva",
        ),
    ),
)

ORIGIN_BY_CODE: dict[str, Origin] = {o.code: o for o in ORIGINS}

# Legal name -> forms people are known by (the MIS "preferred forename").
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy"),
    "Oluwaseun": ("Seun",),
    "Oluwatobiloba": ("Tobi",),
    "Oluwafemi": ("Femi",),
    "Babatunde": ("Tunde",),
    "Chukwuemeka": ("Emeka",),
    "Oluwadamilola": ("Dami",),
    "Oluwatoyin": ("Toyin",),
    "Funmilayo": ("Funmi",),
    "Oyinkansola": ("Oyin",),
    "Alexander": ("Alex", "Xander"),
    "Alexandra": ("Alex", "Sasha"),
    "Elizabeth": ("Beth", "Lizzie", "Eliza"),
    "Katherine": ("Kate", "Katie"),
    "Margaret": ("Maggie", "Meg"),
    "Robert": ("Rob", "Bobby"),
    "Christopher": ("Chris", "Kit"),
    "Nicholas": ("Nick",),
    "Samuel": ("Sam",),
    "Benjamin": ("Ben",),
    "Jonathan": ("Jon",),
    "Thomas": ("Tom", "Tommy"),
    "James": ("Jamie", "Jim"),
    "Edward": ("Ed", "Teddy"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Joshua": ("Josh",),
    "Jacob": ("Jake",),
    "Rebecca": ("Becky",),
    "Josephine": ("Josie",),
    "Victoria": ("Tori",),
    "Abigail": ("Abbie",),
    "Jennifer": ("Jen",),
    "Charlotte": ("Lottie",),
    "Florence": ("Flo",),
    "Isabella": ("Bella",),
    "Eleanor": ("Ellie", "Nell"),
    "Matilda": ("Tilly",),
    "Zakariya": ("Zak",),
    "Muhammad": ("Mo",),
    "Mohammed": ("Mo",),
    "Abdirahman": ("Abdi",),
    "Abdullahi": ("Abdi",),
    "Abdul-Rahman": ("Abdul",),
    "Małgorzata": ("Gosia",),
    "Aleksandra": ("Ola",),
    "Wojciech": ("Wojtek",),
    "Katarzyna": ("Kasia",),
    "Francesca": ("Frankie",),
    "Giuseppe": ("Beppe",),
    "Zixuan": ("Suzy",),
    "Xinyi": ("Cindy",),
    "Yichen": ("Ethan",),
    "Zihan": ("Henry",),
    "Chun Kit": ("Kit",),
    "Wing Yan": ("Winnie",),
    "Mark Anthony": ("Mark",),
    "John Paul": ("JP",),
    "Žygimantas": ("Žygis",),
}

# Per school, the first households carry these, so every export shows them.
SHOWCASE_APOSTROPHE = ("O'Brien", "D'Souza", "O'Neill", "D'Arcy", "De'Ath", "O'Sullivan")
SHOWCASE_HYPHEN = ("Smith-Jones", "Adeleke-Johnson", "Taylor-Wood", "Ashworth-Clarke")
SHOWCASE_MULTIPART = ("van der Berg", "Ó Briain|Ní Bhriain", "da Silva", "St John", "de la Cruz")
SHOWCASE_ACCENTED_FEMALE = ("Zoë", "Siobhán", "Renée", "Chloé", "Inês")
SHOWCASE_ACCENTED_MALE = ("José", "Łukasz", "Seán", "François", "Ciarán")

PLACE_PREFIXES = (
    "Ash", "Brook", "Wex", "Harrow", "Kings", "Marl", "Thorn", "Elm", "Stan", "Wood", "Fair",
    "Heath", "Bram", "Cran", "Dun", "Hazel", "Lang", "Oak", "Red", "Silver", "Wyn", "Alder",
    "Birch", "Cold", "Fern", "Holly", "Lark", "Mill", "Rook", "Swan", "Wil", "Yew",
)
PLACE_SUFFIXES = (
    "ford", "field", "mere", "worth", "bury", "ley", "ton", "wick", "combe", "dale", "gate",
    "hurst", "stead", "well", "bridge", "borough", "holm", "wood", "brook", "cliffe",
)
STREET_WORDS = (
    "Acacia", "Beech", "Cedar", "Church", "Chapel", "Station", "Victoria", "Albert", "Queen's",
    "King's", "Park", "Mill", "Orchard", "Meadow", "Willow", "Rowan", "Hawthorn", "Sycamore",
    "Chestnut", "St Anne's", "St Mark's", "Windsor", "Clarence", "Gladstone", "Nightingale",
    "Primrose", "Bluebell", "Lavender", "Foxglove", "Kestrel", "Heron", "Osprey", "Granville",
    "Tennyson", "Shelley", "Brunel", "Telford", "Stephenson", "Elgar", "Holst", "Darwin",
)
STREET_TYPES = (
    "Road", "Street", "Avenue", "Close", "Lane", "Gardens", "Crescent", "Way", "Drive",
    "Grove", "Terrace", "Place", "Mews", "Rise", "Walk",
)
SAINTS = (
    "Mary", "John", "Peter", "Paul", "Anne", "Luke", "Mark", "Michael", "Joseph", "Andrew",
    "Catherine", "George", "Alban", "Bede", "Aidan", "Hilda", "Margaret", "Francis", "Teresa",
)
# Real postcode areas (first letter never Q, V or X; second never I, J or Z).
POSTCODE_AREAS = (
    "HA", "KT", "SM", "CR", "BR", "DA", "RM", "IG", "EN", "UB", "TW", "WD", "AL", "SG", "CM",
    "SS", "ME", "TN", "RH", "GU", "SL", "HP", "LU", "MK",
)
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the inward code never uses C, I, K, M, O, V

# Ofcom ranges kept for drama: numbers that will never ring a real person.
DRAMA_PHONE_PREFIXES = (
    "07700 900", "020 7946 0", "0113 496 0", "0114 496 0", "0115 496 0", "0116 496 0",
    "0117 496 0", "0118 496 0", "0121 496 0", "0131 496 0", "0141 496 0", "0151 496 0",
    "0161 496 0", "0191 498 0", "029 2018 0", "028 9649 6", "01632 960",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
# fmt: on


# Twins whose names are one letter apart, or nearly (the hard cases): two children, two
# names, never one person. (given, gender) pairs.
SIMILAR_TWINS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (("Ann", "F"), ("Anna", "F")),
    (("Louis", "M"), ("Louise", "F")),
    (("Daniel", "M"), ("Daniela", "F")),
    (("Eric", "M"), ("Erica", "F")),
    (("Leo", "M"), ("Leon", "M")),
    (("Ella", "F"), ("Elle", "F")),
    (("Mia", "F"), ("Maia", "F")),
    (("Aiden", "M"), ("Aidan", "M")),
    (("Isla", "F"), ("Isabel", "F")),
    (("Jon", "M"), ("Joan", "F")),
)
