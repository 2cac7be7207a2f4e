CREATE TABLE studies (
    study_uid      TEXT PRIMARY KEY,
    state          TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'routed')),
    completion     TEXT CHECK (completion IN ('four-views', 'quiet-period', 'complete-study-call', 'late-instance')),
    generation     INTEGER NOT NULL,            -- bumped by every stored instance
    first_received INTEGER NOT NULL,
    last_received  INTEGER NOT NULL
);
CREATE INDEX studies_state ON studies(state, last_received);
CREATE TABLE instances (
    sop_instance_uid    TEXT PRIMARY KEY,
    study_uid           TEXT NOT NULL REFERENCES studies(study_uid),
    series_uid          TEXT NOT NULL,
    sop_class_uid       TEXT NOT NULL,
    laterality          TEXT NOT NULL,
    view                TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    size_bytes          INTEGER NOT NULL,
    sha256              TEXT NOT NULL,
    patient_id          TEXT,
    patient_name        TEXT,
    received            INTEGER NOT NULL
);
CREATE INDEX instances_study ON instances(study_uid);
CREATE TABLE scorings (
    id          INTEGER PRIMARY KEY,
    study_uid   TEXT NOT NULL REFERENCES studies(study_uid),
    generation  INTEGER NOT NULL,
    result_json TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX scorings_study ON scorings(study_uid, id);
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    principal  TEXT NOT NULL,
    role       TEXT NOT NULL,
    action     TEXT NOT NULL,
    study_uid  TEXT,
    outcome    TEXT NOT NULL
);
CREATE INDEX audit_study ON audit(study_uid, seq);
CREATE INDEX audit_principal ON audit(principal, seq);
