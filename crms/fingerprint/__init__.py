"""crms.fingerprint: the fingerprint engine. Images in, templates and scores out; it imports nothing from
storage, access, records or the adapters."""
