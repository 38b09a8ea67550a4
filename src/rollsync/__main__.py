from rollsync.cli import main

main()
