-- Android's ApiClient names its TTS cache entries by its own hash (TTSCacheEntry.hash) and looks them
-- up by it: the entry remembers that name, unique per tenant, beside the server's own digest.
alter table tts_cache_entries add column client_hash text;
create unique index tts_cache_entries_client_hash on tts_cache_entries (tenant_id, client_hash)
    where client_hash is not null;
