"""Change events for downstream services, as Standard Webhooks (docs/downstream.md#webhooks).

Every directory change worth telling a subscriber is an audit event; when the audit log
writes its events (`directory.services.audit.AuditLog.flush`, in the caller's
transaction) the outbox (`services.outbox_record`) adds one delivery row per event and
subscribed endpoint, in the same transaction. The dispatcher (`services.deliveries_dispatch`,
on the queue) sends them after the commit, signed, in order per account, with retries.
"""
