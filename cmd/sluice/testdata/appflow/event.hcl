# Imported from event.json by `sluice import appflow`.
# Review every TODO(import) comment before running this flow.

connection "salesforce" "sf-prod" {
  # AppFlow keeps this profile's credentials; give sluice its own (JWT bearer here).
  login_url   = "https://login.salesforce.com"
  auth        = "jwt"
  client_id   = env("SF_SF_PROD_CLIENT_ID")
  username    = env("SF_SF_PROD_USERNAME")
  private_key = file(env("SF_SF_PROD_KEY_FILE"))
}

connection "redshift" "warehouse" {
  # AppFlow keeps this profile's database URL and role; give sluice its own.
  dsn      = env("REDSHIFT_WAREHOUSE_DSN")
  staging  = "s3://acme-staging/"
  iam_role = env("REDSHIFT_WAREHOUSE_IAM_ROLE")
}

flow "contact-changes" {
  description = "Contact changes into Redshift as they happen"

  trigger "event" {
    event = "ContactChangeEvent"
  }

  source "salesforce" {
    connection = connection.salesforce.sf-prod
    object     = "Contact"
    fields     = ["Id", "Email", "Title"]
  }

  validate {
    check   = "Email != nil"
    on_fail = "drop"
    message = "VALIDATE_NON_NULL failed for Email"
  }

  map {
    id    = "Id"
    email = "Email"
    title = "Title"
  }

  sink "redshift" {
    connection = connection.redshift.warehouse
    table      = "public.contacts"
  }

  on_error {
    mode = "fail_fast"
  }
}
