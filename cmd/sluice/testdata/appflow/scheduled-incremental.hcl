# Imported from scheduled-incremental.json by `sluice import appflow`.
# Review every TODO(import) comment before running this flow.

connection "salesforce" "sf-prod" {
  # AppFlow keeps this profile's credentials; give sluice its own (JWT bearer here).
  login_url   = "https://login.salesforce.com"
  auth        = "jwt"
  client_id   = env("SF_SF_PROD_CLIENT_ID")
  username    = env("SF_SF_PROD_USERNAME")
  private_key = file(env("SF_SF_PROD_KEY_FILE"))
}

flow "contacts-incremental" {
  description = "Changed contacts every 15 minutes on weekdays"
  # Left out, as run-time state rather than definition: createdAt, createdBy, flowArn, flowStatus, lastRunExecutionDetails, lastUpdatedAt, lastUpdatedBy, schemaVersion.

  trigger "schedule" {
    # AppFlow: cron(0/15 8-18 ? * 2-6 *)
    cron     = "0-59/15 8-18 * * 1-5"
    start    = "2026-09-01T00:00:00Z"
    end      = "2027-09-01T00:00:00Z"
    timezone = "America/New_York"
    incremental {
      cursor     = "SystemModstamp"
      start_from = "2026-08-01T00:00:00Z"
    }
  }

  source "salesforce" {
    connection = connection.salesforce.sf-prod
    object     = "Contact"
    fields     = ["Id", "FirstName", "LastName", "Email", "SystemModstamp"]
  }

  map {
    all = true
  }

  sink "s3" {
    bucket = "acme-lake"
    prefix = "contacts"
    format = "jsonl"
    # TODO(import): aggregationType SingleFile: sluice writes part files of target_file_size bytes, not one file per run (destinationFlowConfigList[0].destinationConnectorProperties.S3.s3OutputFormatConfig.aggregationConfig.aggregationType)
    # TODO(import): prefixConfig {"prefixFormat":"DAY","prefixType":"PATH"}: sluice names output paths by partition keys only; add a date field to partition by it (destinationFlowConfigList[0].destinationConnectorProperties.S3.s3OutputFormatConfig.prefixConfig)
  }
}
