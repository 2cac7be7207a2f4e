-- Granska worklist schema for PostgreSQL, version 1: the SQLite schema (../0001_initial.sql)
-- in PostgreSQL types, with the same columns and checks. Times are Unix milliseconds (BIGINT).
-- Names are unqualified: the migration runs with search_path = worklist.

-- One row per exam that has been routed at least once. Its row lock is the exam's mutex: every
-- transition that changes the exam's tasks, reads, outcome or events holds it.
CREATE TABLE studies (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_uid      TEXT    NOT NULL UNIQUE,
    waiting_since  BIGINT  NOT NULL,
    -- the routing whose tasks are live (NULL never happens after the first routing commits)
    routing_id     BIGINT,
    outcome        TEXT    CHECK (outcome IN ('recall', 'no-recall')),
    outcome_via    TEXT    CHECK (outcome_via IN ('single', 'concordant', 'consensus')),
    outcome_at     BIGINT,
    CHECK ((outcome IS NULL) = (outcome_via IS NULL) AND (outcome IS NULL) = (outcome_at IS NULL))
);

-- Every routing decision ever made (DESIGN §4: model, raw score, category, policy, time).
CREATE TABLE routings (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_id       BIGINT   NOT NULL REFERENCES studies(id),
    status         TEXT     NOT NULL CHECK (status IN ('scored', 'incomplete', 'unscorable')),
    model_name     TEXT,
    model_version  TEXT,
    model_sha256   TEXT,
    raw_score      DOUBLE PRECISION,
    category       SMALLINT CHECK (category BETWEEN 1 AND 10),
    extra_high     BOOLEAN  NOT NULL,
    reason         TEXT,
    policy_name    TEXT     NOT NULL,
    policy_version TEXT     NOT NULL,
    reading_mode   TEXT     NOT NULL CHECK (reading_mode IN ('single', 'double')),
    flags          TEXT     NOT NULL,          -- comma-separated flag names
    flagged        BOOLEAN  NOT NULL,
    rank           SMALLINT NOT NULL CHECK (rank BETWEEN 1 AND 10),
    decided_at     BIGINT   NOT NULL,
    applied        BOOLEAN  NOT NULL,
    superseded_by  BIGINT   REFERENCES routings(id)
);
CREATE INDEX routings_study ON routings (study_id);
ALTER TABLE studies ADD CONSTRAINT studies_routing_id_fkey FOREIGN KEY (routing_id) REFERENCES routings(id);

-- Reading tasks. flagged/rank/waiting_since are copies of the routing's ordering inputs so the
-- queue is one index.
CREATE TABLE tasks (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_id       BIGINT   NOT NULL REFERENCES studies(id),
    routing_id     BIGINT   NOT NULL REFERENCES routings(id),
    kind           TEXT     NOT NULL CHECK (kind IN ('first', 'second', 'consensus')),
    state          TEXT     NOT NULL CHECK (state IN ('queued', 'claimed', 'done', 'cancelled')),
    flagged        BOOLEAN  NOT NULL,
    rank           SMALLINT NOT NULL,
    waiting_since  BIGINT   NOT NULL,
    claimed_by     TEXT,
    lease_until    BIGINT,
    created_at     BIGINT   NOT NULL,
    CHECK ((state = 'claimed') = (claimed_by IS NOT NULL) AND (claimed_by IS NULL) = (lease_until IS NULL)),
    UNIQUE (routing_id, kind)
);
-- The queue in priority order (flagged, rank, waiting time, id). Both claim scans use it: the
-- overdue one seeks into each (flagged, rank) group's overdue prefix, the other walks it from
-- the top. Partial, so done and cancelled tasks never slow a scan down. Deliberately the only
-- index on waiting_since: a plain one would tempt the planner, whose statistics do not see time
-- pass, into range scans over what it wrongly thinks are few overdue tasks.
CREATE INDEX tasks_queue ON tasks (flagged DESC, rank DESC, waiting_since, id) WHERE state = 'queued';
CREATE INDEX tasks_lease ON tasks (lease_until) WHERE state = 'claimed';
CREATE INDEX tasks_holder ON tasks (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_study ON tasks (study_id);

-- Submitted reads; one per done task.
CREATE TABLE reads (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id        BIGINT NOT NULL UNIQUE REFERENCES tasks(id),
    study_id       BIGINT NOT NULL REFERENCES studies(id),
    kind           TEXT   NOT NULL CHECK (kind IN ('first', 'second', 'consensus')),
    reader         TEXT   NOT NULL,
    decision       TEXT   NOT NULL CHECK (decision IN ('recall', 'no-recall')),
    note           TEXT,
    request_id     TEXT   NOT NULL UNIQUE,
    submitted_at   BIGINT NOT NULL
);
CREATE INDEX reads_study ON reads (study_id, reader);

-- The audit trail of the workflow. Within one exam, seq order is commit order (every writer
-- of an exam's events holds its studies row until it commits).
CREATE TABLE events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_id       BIGINT NOT NULL REFERENCES studies(id),
    task_id        BIGINT REFERENCES tasks(id),
    at             BIGINT NOT NULL,
    actor          TEXT,
    kind           TEXT   NOT NULL,
    detail         TEXT   NOT NULL
);
CREATE INDEX events_study ON events (study_id, seq);
