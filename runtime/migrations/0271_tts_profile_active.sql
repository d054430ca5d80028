-- A TTS profile can be retired without deleting it (the Operations Console's profile list filters on
-- it, TTSProfile.is_active); every existing profile stays active.
alter table tts_profiles add column is_active boolean not null default true;
