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

ALTER TABLE "public"."events" ADD COLUMN "tags" JSONB;

ALTER TABLE "public"."events" ADD COLUMN "raw" BYTEA;

ALTER TABLE "public"."events" ADD COLUMN "amount" DECIMAL(12,2);

ALTER TABLE "public"."events" ADD COLUMN "at" TIMESTAMPTZ;

CREATE TEMP TABLE "sluice_stage_0001_1" AS
SELECT "id", "name", "score", "tags", "raw", "amount", "at", CAST(NULL AS BIGINT) AS "__sluice_seq", CAST(NULL AS BOOLEAN) AS "__sluice_deleted"
FROM "public"."events"
WHERE 1 = 0;

COPY "sluice_stage_0001_1" ("id", "name", "score", "tags", "raw", "amount", "at", "__sluice_seq", "__sluice_deleted") FROM STDIN WITH (FORMAT csv, NULL '__sluice_null__');

CREATE TEMP TABLE "sluice_dedup_0001_1" AS
SELECT "id", "name", "score", "tags", "raw", "amount", "at", "__sluice_deleted"
FROM (
  SELECT "id", "name", "score", "tags", "raw", "amount", "at", "__sluice_deleted", ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "__sluice_seq" DESC) AS "__sluice_rn"
  FROM "sluice_stage_0001_1"
) AS s
WHERE "__sluice_rn" = 1;

DELETE FROM "public"."events"
USING "sluice_dedup_0001_1"
WHERE "public"."events"."id" = "sluice_dedup_0001_1"."id";

INSERT INTO "public"."events" ("id", "name", "score", "tags", "raw", "amount", "at")
SELECT "id", "name", "score", "tags", "raw", "amount", "at" FROM "sluice_dedup_0001_1"
WHERE NOT "sluice_dedup_0001_1"."__sluice_deleted";

DROP TABLE "sluice_dedup_0001_1";

DROP TABLE "sluice_stage_0001_1";

COMMIT;

