-- Granska worklist schema, version 1. Times are Unix milliseconds.

-- One row per exam that has been routed at least once.
CREATE TABLE studies (
    id             INTEGER PRIMARY KEY,
    study_uid      TEXT    NOT NULL UNIQUE,
    waiting_since  INTEGER NOT NULL,
    -- the routing whose tasks are live (NULL never happens after the first routing commits)
    routing_id     INTEGER REFERENCES routings(id),
    outcome        TEXT    CHECK (outcome IN ('recall', 'no-recall')),
    outcome_via    TEXT    CHECK (outcome_via IN ('single', 'concordant', 'consensus')),
    outcome_at     INTEGER,
    CHECK ((outcome IS NULL) = (outcome_via IS NULL) AND (outcome IS NULL) = (outcome_at IS NULL))
);

-- Every routing decision ever made (DESIGN §4: model, raw score, category, policy, time).
CREATE TABLE routings (
    id             INTEGER PRIMARY KEY,
    study_id       INTEGER NOT NULL REFERENCES studies(id),
    status         TEXT    NOT NULL CHECK (status IN ('scored', 'incomplete', 'unscorable')),
    model_name     TEXT,
    model_version  TEXT,
    model_sha256   TEXT,
    raw_score      REAL,
    category       INTEGER CHECK (category BETWEEN 1 AND 10),
    extra_high     INTEGER NOT NULL CHECK (extra_high IN (0, 1)),
    reason         TEXT,
    policy_name    TEXT    NOT NULL,
    policy_version TEXT    NOT NULL,
    reading_mode   TEXT    NOT NULL CHECK (reading_mode IN ('single', 'double')),
    flags          TEXT    NOT NULL,          -- comma-separated flag names
    flagged        INTEGER NOT NULL CHECK (flagged IN (0, 1)),
    rank           INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 10),
    decided_at     INTEGER NOT NULL,
    applied        INTEGER NOT NULL CHECK (applied IN (0, 1)),
    superseded_by  INTEGER REFERENCES routings(id)
);
CREATE INDEX routings_study ON routings(study_id);

-- Reading tasks. flagged/rank/waiting_since are copies of the routing's ordering inputs so the
-- queue is one index scan.
CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY,
    study_id       INTEGER NOT NULL REFERENCES studies(id),
    routing_id     INTEGER NOT NULL REFERENCES routings(id),
    kind           TEXT    NOT NULL CHECK (kind IN ('first', 'second', 'consensus')),
    state          TEXT    NOT NULL CHECK (state IN ('queued', 'claimed', 'done', 'cancelled')),
    flagged        INTEGER NOT NULL,
    rank           INTEGER NOT NULL,
    waiting_since  INTEGER NOT NULL,
    claimed_by     TEXT,
    lease_until    INTEGER,
    created_at     INTEGER NOT NULL,
    CHECK ((state = 'claimed') = (claimed_by IS NOT NULL) AND (claimed_by IS NULL) = (lease_until IS NULL)),
    UNIQUE (routing_id, kind)
);
CREATE INDEX tasks_queue ON tasks(state, flagged DESC, rank DESC, waiting_since, id);
CREATE INDEX tasks_waiting ON tasks(state, waiting_since);
CREATE INDEX tasks_lease ON tasks(state, lease_until);
CREATE INDEX tasks_holder ON tasks(claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_study ON tasks(study_id);

-- Submitted reads; one per done task.
CREATE TABLE reads (
    id             INTEGER PRIMARY KEY,
    task_id        INTEGER NOT NULL UNIQUE REFERENCES tasks(id),
    study_id       INTEGER NOT NULL REFERENCES studies(id),
    kind           TEXT    NOT NULL CHECK (kind IN ('first', 'second', 'consensus')),
    reader         TEXT    NOT NULL,
    decision       TEXT    NOT NULL CHECK (decision IN ('recall', 'no-recall')),
    note           TEXT,
    request_id     TEXT    NOT NULL UNIQUE,
    submitted_at   INTEGER NOT NULL
);
CREATE INDEX reads_study ON reads(study_id, reader);

-- The audit trail of the workflow, in commit order.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    study_id       INTEGER NOT NULL REFERENCES studies(id),
    task_id        INTEGER REFERENCES tasks(id),
    at             INTEGER NOT NULL,
    actor          TEXT,
    kind           TEXT    NOT NULL,
    detail         TEXT    NOT NULL
);
CREATE INDEX events_study ON events(study_id, seq);
