-- Result reports (Mammography CAD SRs) and their outbox: one row per SR made, its bytes in the
-- blob store, its delivery state. A re-scoring that replaces a routing makes a new SR (a new
-- SOP instance), never an overwrite. `kept` = no destination configured (archive only);
-- `superseded` = a newer report of the study was made before this one was delivered.
CREATE TABLE reports (
    sop_instance_uid TEXT PRIMARY KEY,
    study_uid        TEXT NOT NULL REFERENCES studies(study_uid),
    generation       INTEGER NOT NULL,           -- the study generation whose routing it reports
    sha256           TEXT NOT NULL,              -- the SR's bytes in the blob store
    size_bytes       INTEGER NOT NULL,
    destination      TEXT NOT NULL,              -- "AE@host:port", or "" when kept only
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'kept', 'superseded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status      TEXT,                       -- "0x0000", "0xA700", or why no status came
    created          INTEGER NOT NULL,
    last_at          INTEGER,
    next_at          INTEGER NOT NULL            -- pending: when to try next
);
CREATE INDEX reports_due ON reports(state, next_at);
CREATE INDEX reports_study ON reports(study_uid, created);
-- Routings applied to the worklist whose report is still to be made: written in the same
-- transaction as the routing's scoring, removed in the one that keeps the report, so a crash
-- between the two loses nothing. Routings recorded before this version get no report (a PACS
-- is not flooded on upgrade).
CREATE TABLE report_queue (
    study_uid  TEXT NOT NULL REFERENCES studies(study_uid),
    generation INTEGER NOT NULL,
    PRIMARY KEY (study_uid, generation)
);
-- A study may now be completed by the release of the DICOM association that sent it. SQLite
-- cannot alter a CHECK constraint; widening one in place is the documented writable_schema
-- edit (existing rows satisfy it; granska_sqlite::migrate bumps schema_version after).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''late-instance''))', '''late-instance'', ''association-released''))')
 WHERE type = 'table' AND name = 'studies';
PRAGMA writable_schema = OFF;
-- Fail the migration (the CHECK below) if the edit found nothing to widen.
CREATE TEMP TABLE widened (ok INTEGER CHECK (ok = 1));
INSERT INTO widened SELECT instr(sql, '''association-released''') > 0 FROM sqlite_schema
 WHERE type = 'table' AND name = 'studies';
DROP TABLE widened;
