# Imported from cloudformation.json by `sluice import appflow`.
# Review every TODO(import) comment before running this flow.

connection "redshift" "warehouse" {
  # AppFlow keeps this profile's database URL and role; give sluice its own.
  dsn      = env("REDSHIFT_WAREHOUSE_DSN")
  staging  = "s3://acme-staging/appflow/orders/"
  iam_role = env("REDSHIFT_WAREHOUSE_IAM_ROLE")
}

flow "orders-to-redshift" {
  description = "Hourly order load"
  # Left out, as run-time state rather than definition: FlowStatus.
  # TODO(import): flows have no tags in sluice (team=finance) (Resources.OrdersFlow.Properties.Tags)

  trigger "schedule" {
    # AppFlow: rate(1hours)
    cron     = "0 * * * *"
    start    = "2026-09-21T14:13:20Z"
    timezone = "Europe/Berlin"
  }

  source "s3" {
    # TODO(import): bucket is a CloudFormation Ref "SourceBucket"; write the value (Resources.OrdersFlow.Properties.SourceFlowConfig.SourceConnectorProperties.S3.BucketName)
    bucket = "TODO"
    prefix = "orders"
    format = "csv"
    fields = ["order_id", "First Name", "Last Name", "Order Total", "Tax", "status"]
  }

  filter {
    where = "$env['Order Total'] > 0"
  }

  filter {
    # AppFlow joins VALUES with OR; for NOT_EQUAL_TO that would keep every record, so this keeps records equal to none of them.
    where = "!(status in ['cancelled', 'test'])"
  }

  map {
    order_id = "int(order_id)"
    # Merge of First Name, Last Name: CONCAT_FORMAT "${First Name} ${Last Name}" read as a template.
    # TODO(import): destination field "customer name" is not an identifier a map block can name; written as customer_name (Resources.OrdersFlow.Properties.Tasks[5].DestinationField)
    customer_name = "concat($env['First Name'], ' ', $env['Last Name'])"
    status        = "status"
    gross         = "$env['Order Total'] + Tax"
  }

  sink "redshift" {
    connection = connection.redshift.warehouse
    table      = "public.orders"
  }

  on_error {
    mode = "continue"
    # TODO(import): dead_letter takes a local directory for now; copy rejected records to s3://acme-rejects/orders/ yourself or set a local path (Resources.OrdersFlow.Properties.DestinationFlowConfigList[0].DestinationConnectorProperties.Redshift.ErrorHandlingConfig.BucketName)
    dead_letter = "s3://acme-rejects/orders/"
  }
}
