-- The archive index on PostgreSQL: the schema SQLite reaches through its migrations 0001-0003,
-- in one migration. Times are Unix milliseconds (BIGINT). Run with search_path = archive, so
-- names stay unqualified. Never edit this file once shipped; add 0002_….sql.

-- `id` is the insertion order (SQLite's rowid): ties in `last_received` list oldest first.
CREATE TABLE studies (
    study_uid      TEXT PRIMARY KEY,
    id             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    state          TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'routed')),
    completion     TEXT CHECK (completion IN ('four-views', 'quiet-period', 'complete-study-call', 'late-instance',
                                              'association-released')),
    generation     BIGINT NOT NULL,             -- bumped by every stored (or removed) instance
    first_received BIGINT NOT NULL,
    last_received  BIGINT NOT NULL,
    -- the replica scoring it and until when (a lease it renews; expired: claimable again)
    scoring_owner  TEXT,
    scoring_until  BIGINT
);
CREATE INDEX studies_state ON studies(state, last_received, id);

CREATE TABLE instances (
    sop_instance_uid    TEXT PRIMARY KEY,
    study_uid           TEXT NOT NULL REFERENCES studies(study_uid),
    series_uid          TEXT NOT NULL,
    sop_class_uid       TEXT NOT NULL,
    laterality          TEXT NOT NULL,
    view                TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    size_bytes          BIGINT NOT NULL,
    sha256              TEXT NOT NULL,
    patient_id          TEXT,
    patient_name        TEXT,
    received            BIGINT NOT NULL
);
CREATE INDEX instances_study ON instances(study_uid);
-- Whether another instance shares a removed instance's bytes (SQLite scans; a shared
-- database grows larger).
CREATE INDEX instances_sha256 ON instances(sha256);

-- result_json stays TEXT, byte for byte as written: a record this build cannot read is
-- reported as such, never rejected by the column type.
CREATE TABLE scorings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_uid   TEXT NOT NULL REFERENCES studies(study_uid),
    generation  BIGINT NOT NULL,
    result_json TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX scorings_study ON scorings(study_uid, id);

CREATE TABLE audit (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    principal  TEXT NOT NULL,
    role       TEXT NOT NULL,
    action     TEXT NOT NULL,
    study_uid  TEXT,
    outcome    TEXT NOT NULL
);
CREATE INDEX audit_study ON audit(study_uid, seq);
CREATE INDEX audit_principal ON audit(principal, seq);

-- Studies whose scoring or routing failed after they were acknowledged: retried with backoff,
-- then parked as needs-attention (with the reason) until an admin retries them or a new
-- instance arrives. (SQLite's 0002 also parks studies stored with an invalid UID by older
-- versions; a PostgreSQL archive has only ever held validated UIDs.)
CREATE TABLE attention (
    study_uid TEXT PRIMARY KEY REFERENCES studies(study_uid),
    attempts  BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    since     BIGINT NOT NULL,
    last_at   BIGINT NOT NULL,
    parked    BOOLEAN NOT NULL
);
CREATE INDEX attention_parked ON attention(parked, since);

-- Result reports (Mammography CAD SRs) and their outbox: one row per SR made, its bytes in the
-- blob store, its delivery state. `kept` = no destination configured (archive only);
-- `superseded` = a newer report of the study was made before this one was delivered.
CREATE TABLE reports (
    sop_instance_uid TEXT PRIMARY KEY,
    study_uid        TEXT NOT NULL REFERENCES studies(study_uid),
    generation       BIGINT NOT NULL,            -- the study generation whose routing it reports
    sha256           TEXT NOT NULL,              -- the SR's bytes in the blob store
    size_bytes       BIGINT NOT NULL,
    destination      TEXT NOT NULL,              -- "AE@host:port", or "" when kept only
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'kept', 'superseded')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_status      TEXT,                       -- "0x0000", "0xA700", or why no status came
    created          BIGINT NOT NULL,
    last_at          BIGINT,
    next_at          BIGINT NOT NULL             -- pending: when to try next
);
CREATE INDEX reports_due ON reports(state, next_at);
CREATE INDEX reports_study ON reports(study_uid, created);

-- Routings applied to the worklist whose report is still to be made: written in the same
-- transaction as the routing's scoring, removed in the one that keeps the report. `id` is the
-- queue order (SQLite's rowid).
CREATE TABLE report_queue (
    study_uid  TEXT NOT NULL REFERENCES studies(study_uid),
    generation BIGINT NOT NULL,
    id         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- held by the replica making its report until then (so only one makes it)
    held_until BIGINT,
    PRIMARY KEY (study_uid, generation)
);
