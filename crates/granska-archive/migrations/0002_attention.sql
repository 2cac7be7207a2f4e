-- Studies whose scoring or routing failed after they were acknowledged: retried with backoff,
-- then parked as needs-attention (with the reason) until an admin retries them or a new
-- instance arrives. Nothing acknowledged loops for ever or stays invisible.
CREATE TABLE attention (
    study_uid TEXT PRIMARY KEY REFERENCES studies(study_uid),
    attempts  INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    last_at   INTEGER NOT NULL,
    parked    INTEGER NOT NULL CHECK (parked IN (0, 1))
);
CREATE INDEX attention_parked ON attention(parked, since);
-- Before UIDs were validated at ingest, a study UID with a backslash or control byte could be
-- stored and then never routed: park those with their reason.
INSERT INTO attention (study_uid, attempts, reason, since, last_at, parked)
    SELECT study_uid, 0, 'the study UID is not a valid DICOM UID (stored before ingest validated UIDs)',
           last_received, last_received, 1
    FROM studies WHERE study_uid = '' OR length(study_uid) > 64 OR study_uid GLOB '*[^0-9.]*';
