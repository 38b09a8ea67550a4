"""The API's operations, one router per subject. Endpoints only translate: they check
the token's scope, call a selector or a service, and shape the answer."""
