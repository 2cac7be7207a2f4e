-- Several replicas share one queue of work (PostgreSQL); the embedded SQLite store keeps the
-- same columns so the core has one way of taking work:
-- - a study waiting to be scored is claimed by one replica (`scoring_owner`) with a lease
--   (`scoring_until`, Unix ms) that it renews while scoring; an expired claim is taken over;
-- - a routing waiting for its report is held by the replica making it until `held_until`.
ALTER TABLE studies ADD COLUMN scoring_owner TEXT;
ALTER TABLE studies ADD COLUMN scoring_until INTEGER;
ALTER TABLE report_queue ADD COLUMN held_until INTEGER;
