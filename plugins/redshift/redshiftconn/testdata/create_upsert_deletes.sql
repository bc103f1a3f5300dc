SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'analytics' AND table_name = 'events'
ORDER BY ordinal_position;

SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'analytics' AND table_name = 'events'
ORDER BY ordinal_position;

BEGIN;

CREATE TABLE IF NOT EXISTS "analytics"."events" (
  "id" BIGINT,
  "name" VARCHAR(65535),
  "score" DOUBLE PRECISION,
  "tags" SUPER,
  "raw" VARBYTE(65535),
  "amount" DECIMAL(12,2),
  "at" TIMESTAMPTZ
)
DISTKEY ("id")
SORTKEY ("id");

LOCK "analytics"."events";

CREATE TEMP TABLE "sluice_stage_0001_1" AS
SELECT "id", "name", "score", "tags", "raw", "amount", "at", CAST(NULL AS BIGINT) AS "__sluice_seq", CAST(NULL AS BOOLEAN) AS "__sluice_deleted"
FROM "analytics"."events"
WHERE 1 = 0;

COPY "sluice_stage_0001_1" ("id", "name", "score", "tags", "raw", "amount", "at", "__sluice_seq", "__sluice_deleted")
FROM 's3://bkt/sluice/0001-1/manifest.json'
IAM_ROLE 'arn:aws:iam::123456789012:role/rs-load'
MANIFEST
FORMAT AS CSV
GZIP
NULL AS '__sluice_null__'
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
MAXERROR 0
COMPUPDATE OFF
STATUPDATE OFF;

SELECT pg_last_copy_count();

CREATE TEMP TABLE "sluice_dedup_0001_1" AS
SELECT "id", "name", "score", "tags", "raw", "amount", "at", "__sluice_deleted"
FROM (
  SELECT "id", "name", "score", "tags", "raw", "amount", "at", "__sluice_deleted", ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "__sluice_seq" DESC) AS "__sluice_rn"
  FROM "sluice_stage_0001_1"
) AS s
WHERE "__sluice_rn" = 1;

DELETE FROM "analytics"."events"
USING "sluice_dedup_0001_1"
WHERE "analytics"."events"."id" = "sluice_dedup_0001_1"."id";

INSERT INTO "analytics"."events" ("id", "name", "score", "tags", "raw", "amount", "at")
SELECT "id", "name", "score", "tags", "raw", "amount", "at" FROM "sluice_dedup_0001_1"
WHERE NOT "sluice_dedup_0001_1"."__sluice_deleted";

DROP TABLE "sluice_dedup_0001_1";

DROP TABLE "sluice_stage_0001_1";

COMMIT;

