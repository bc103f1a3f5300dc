# Imported from unsupported.json by `sluice import appflow`.
# Review every TODO(import) comment before running this flow.

connection "zendesk" "zendesk-support" {
  # Placeholder: sluice has no zendesk connector yet; fill in its settings once there is one.
}

connection "snowflake" "snow" {
  # Placeholder: sluice has no snowflake connector yet; fill in its settings once there is one.
}

flow "_2tickets_weekly" {
  # AppFlow flow "2tickets!weekly".
  # TODO(import): sluice does not encrypt data with a KMS key (arn:aws:kms:eu-central-1:123456789012:key/1234abcd); protect the state directory and sinks instead (kmsArn)
  # TODO(import): flows have no tags in sluice (team=support) (tags)
  # TODO(import): sluice does not register output in the AWS Glue Data Catalog (metadataCatalogConfig)

  trigger "schedule" {
    # TODO(import): cannot convert cron(0 6 L * ? *) to cron: "L" uses L, W or #, which standard cron lacks; write it by hand (triggerConfig.triggerProperties.Scheduled.scheduleExpression)
    cron = "0 * * * *"
    # TODO(import): scheduleOffset 300 s: sluice has no schedule offset; shift the cron instead (triggerConfig.triggerProperties.Scheduled.scheduleOffset)
    # TODO(import): deactivating the flow after 5 consecutive failures is not available in sluice yet (triggerConfig.triggerProperties.Scheduled.flowErrorDeactivationThreshold)
    incremental {
      # TODO(import): incremental pull without sourceFlowConfig.incrementalPullConfig.datetimeTypeFieldName; LastModifiedDate is a guess (triggerConfig.triggerProperties.Scheduled.dataPullMode)
      cursor = "LastModifiedDate"
      # AppFlow's first incremental run reads the past 30 days; set start_from to choose.
    }
  }

  source "zendesk" {
    # TODO(import): no sluice connector yet for Zendesk (sourceFlowConfig.connectorType)
    connection = connection.zendesk.zendesk-support
    # TODO(import): sluice chooses the API version itself (AppFlow used v2) (sourceFlowConfig.apiVersion)
    object = "tickets"
    fields = ["id", "subject", "requester", "status", "priority"]
  }

  # TODO(import): a Filter task with operator "NO_OP" filters nothing; left out (tasks[1].connectorOperator.Zendesk)
  # TODO(import): unknown task type "Concat" is left out (tasks[3].taskType)
  # TODO(import): Map task property SUBFIELD_CATEGORY_MAP is not carried over (tasks[4].taskProperties.SUBFIELD_CATEGORY_MAP)
  # TODO(import): DIVISION needs two fields; the Arithmetic task is left out (tasks[7].connectorOperator.Zendesk)

  filter {
    # TODO(import): value "high" is not a number (tasks[2].taskProperties)
    where = "priority > 'high'"
  }

  validate {
    # TODO(import): unknown VALIDATION_ACTION "NotifyOwner"; the run fails instead (tasks[6].taskProperties.VALIDATION_ACTION)
    check   = "id != nil"
    on_fail = "fail"
    message = "VALIDATE_NON_NULL failed for id"
  }

  mask "subject" {
    # TODO(import): MASK_VALUE "##" is more than one character; sluice masks with "#" (tasks[5].taskProperties.MASK_VALUE)
    # TODO(import): MASK_LENGTH 5 with MASK_ALL: sluice masks every character and keeps the value's length (tasks[5].taskProperties.MASK_LENGTH)
    char = "#"
  }

  map {
    requester = "requester"
    # TODO(import): destination field "ticket id" is not an identifier a map block can name; written as ticket_id (tasks[8].destinationField)
    ticket_id = "id"
  }

  sink "snowflake" {
    # TODO(import): no sluice connector yet for Snowflake (destinationFlowConfigList[0].connectorType)
    connection = connection.snowflake.snow
    object     = "SUPPORT.PUBLIC.TICKETS"
    # TODO(import): Snowflake property intermediateBucketName is not carried over (destinationFlowConfigList[0].destinationConnectorProperties.Snowflake.intermediateBucketName)
  }

  on_error {
    mode = "continue"
    # TODO(import): dead_letter takes a local directory for now; copy rejected records to s3://acme-rejects/ yourself or set a local path (destinationFlowConfigList[0].destinationConnectorProperties.Snowflake.errorHandlingConfig.bucketName)
    dead_letter = "s3://acme-rejects/"
  }
}
