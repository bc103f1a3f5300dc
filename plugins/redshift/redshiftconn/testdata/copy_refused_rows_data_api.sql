SELECT CAST(current_schema() AS VARCHAR);

SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'items'
ORDER BY ordinal_position;

SELECT CAST(current_schema() AS VARCHAR);

SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), COALESCE(CAST(numeric_scale AS VARCHAR), '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'items'
ORDER BY ordinal_position;

BEGIN;

LOCK "public"."items";

CREATE TEMP TABLE "sluice_stage_0001_1" (LIKE "public"."items");

ALTER TABLE "sluice_stage_0001_1" ADD COLUMN "__sluice_seq" BIGINT;

COPY "sluice_stage_0001_1" ("id", "name", "qty", "__sluice_seq")
FROM 's3://bkt/sluice/0001-1/manifest.json'
IAM_ROLE 'arn:aws:iam::123456789012:role/rs-load'
MANIFEST
FORMAT AS CSV
GZIP
NULL AS '__sluice_null__'
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
MAXERROR 1000
COMPUPDATE OFF
STATUPDATE OFF;

SELECT pg_last_copy_count();

CREATE TEMP TABLE "sluice_dedup_0001_1" AS
SELECT "id", "name", "qty"
FROM (
  SELECT "id", "name", "qty", ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "__sluice_seq" DESC) AS "__sluice_rn"
  FROM "sluice_stage_0001_1"
) AS s
WHERE "__sluice_rn" = 1;

DELETE FROM "public"."items"
USING "sluice_dedup_0001_1"
WHERE "public"."items"."id" = "sluice_dedup_0001_1"."id";

INSERT INTO "public"."items" ("id", "name", "qty")
SELECT "id", "name", "qty" FROM "sluice_dedup_0001_1";

DROP TABLE "sluice_dedup_0001_1";

DROP TABLE "sluice_stage_0001_1";

COMMIT;

SELECT DISTINCT TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), TRIM(column_length), error_code, TRIM(error_message)
FROM sys_load_error_detail
WHERE file_name LIKE 's3://bkt/sluice/0001-1/%' ESCAPE '^'
ORDER BY 1, 2;

