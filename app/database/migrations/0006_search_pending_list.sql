-- 0006 search pending list: the patients' trigram index takes new entries into a pending list of
-- at most 256 kB (PostgreSQL's default is 4 MB). Never edit an applied migration.
--
-- GIN adds new rows' entries to a pending list, and the insert that finds the list full merges it
-- into the index. A 4 MB list took tens of milliseconds to merge, and with creations written
-- together (app/store, createPatients) every creation of that batch waited for it: POST a patient
-- had a p99 of 40-54 ms. With 256 kB: 14-20 ms, for 10 % fewer creations per second under load
-- (go run ./bench -scenarios d). Without a pending list (fastupdate off) every insert updates the
-- index itself: half the creations per second.
DO $migration$
BEGIN
    IF to_regclass('patients_search_idx') IS NOT NULL THEN -- 0005 skips the index without pg_trgm
        ALTER INDEX patients_search_idx SET (gin_pending_list_limit = 256);
    END IF;
END
$migration$;
