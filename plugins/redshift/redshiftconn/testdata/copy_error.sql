SELECT CAST(current_schema() AS VARCHAR);

SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'events'
ORDER BY ordinal_position;

SELECT CAST(current_schema() AS VARCHAR);

SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'events'
ORDER BY ordinal_position;

BEGIN;

LOCK "public"."events";

ALTER TABLE "public"."events" ADD COLUMN "tags" SUPER;

ALTER TABLE "public"."events" ADD COLUMN "raw" VARBYTE(65535);

ALTER TABLE "public"."events" ADD COLUMN "amount" DECIMAL(12,2);

ALTER TABLE "public"."events" ADD COLUMN "at" TIMESTAMPTZ;

CREATE TEMP TABLE "sluice_stage_0001_1" (LIKE "public"."events");

ALTER TABLE "sluice_stage_0001_1" ADD COLUMN "__sluice_seq" BIGINT;

COPY "sluice_stage_0001_1" ("id", "name", "score", "tags", "raw", "amount", "at", "__sluice_seq")
FROM 's3://bkt/sluice/0001-1/manifest.json'
IAM_ROLE 'arn:aws:iam::123456789012:role/rs-load'
REGION 'eu-west-1'
MANIFEST
FORMAT AS CSV
GZIP
NULL AS '__sluice_null__'
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
MAXERROR 0
COMPUPDATE OFF
STATUPDATE OFF;

ROLLBACK;

SELECT DISTINCT TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), TRIM(column_length), error_code, TRIM(error_message)
FROM sys_load_error_detail
WHERE file_name LIKE 's3://bkt/sluice/0001-1/%' ESCAPE '^'
ORDER BY 1, 2
LIMIT 20;

ROLLBACK;

