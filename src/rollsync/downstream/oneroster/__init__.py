"""The OneRoster 1.1 and 1.2 rostering REST provider: objects built from the same
mapping as the OneRoster CSV export (`objects`), the query language of the REST
binding (`query`), read through the tenancy chokepoint (`downstream.selectors`)."""
