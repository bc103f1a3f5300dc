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

CREATE TEMP TABLE "sluice_stage_0001_1" AS
SELECT "id", "name", "score", "tags", "raw", "amount", "at", CAST(NULL AS BIGINT) AS "__sluice_seq", CAST(NULL AS BOOLEAN) AS "__sluice_deleted"
FROM "public"."events"
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

DELETE FROM "public"."events"
USING "sluice_dedup_0001_1"
WHERE "public"."events"."id" = "sluice_dedup_0001_1"."id"
AND "sluice_dedup_0001_1"."__sluice_deleted";

UPDATE "public"."events"
SET "name" = "sluice_dedup_0001_1"."name",
    "score" = "sluice_dedup_0001_1"."score",
    "tags" = "sluice_dedup_0001_1"."tags",
    "raw" = "sluice_dedup_0001_1"."raw",
    "amount" = "sluice_dedup_0001_1"."amount",
    "at" = "sluice_dedup_0001_1"."at"
FROM "sluice_dedup_0001_1"
WHERE "public"."events"."id" = "sluice_dedup_0001_1"."id"
AND NOT "sluice_dedup_0001_1"."__sluice_deleted";

DROP TABLE "sluice_dedup_0001_1";

DROP TABLE "sluice_stage_0001_1";

COMMIT;

