"""SCIM 2.0 read access (RFC 7643/7644) at `/scim/v2/`: a door for identity platforms
that import the directory from a SCIM source (docs/downstream.md, "SCIM").

scim2-server speaks the protocol (routing, validation, paging, conditional requests,
errors) and scim2-models holds the resources and parses the filters
(docs/decisions/0079); this package gives them the directory: `storage.DirectoryStorage`
reads through `selectors` (built on `access.selectors.restrict`, the one tenancy
chokepoint, with the SCIM client as the principal), `filters` turns a parsed filter into
an ORM query, `resources` renders accounts and groups. It never writes."""
