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
);

LOCK "analytics"."events";

COPY "analytics"."events" ("id", "name", "score", "tags", "raw", "amount", "at")
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

COMMIT;

