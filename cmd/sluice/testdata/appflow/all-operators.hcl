# Imported from all-operators.json by `sluice import appflow`.
# Review every TODO(import) comment before running this flow.

connection "salesforce" "sf-prod" {
  # AppFlow keeps this profile's credentials; give sluice its own (JWT bearer here).
  login_url   = "https://login.salesforce.com"
  auth        = "jwt"
  client_id   = env("SF_SF_PROD_CLIENT_ID")
  username    = env("SF_SF_PROD_USERNAME")
  private_key = file(env("SF_SF_PROD_KEY_FILE"))
}

flow "opportunities-to-s3" {
  description = "Every AppFlow task type and all 21 operators, Salesforce to S3."

  trigger "on_demand" {
  }

  source "salesforce" {
    connection = connection.salesforce.sf-prod
    object     = "Opportunity"
    fields     = ["Id", "Name", "AccountName", "StageName", "Amount", "Discount", "Probability", "Quantity", "CloseDate", "LastModifiedDate", "Email", "Phone", "Ssn", "PostalCode", "Description", "IsWon", "Region"]
  }

  filter {
    where = "Amount < 1000000"
  }

  filter {
    where = "Probability > 10"
  }

  filter {
    where = "CloseDate >= date('2026-01-01') && CloseDate <= date('2026-12-31')"
  }

  filter {
    where = "Quantity <= 500"
  }

  filter {
    where = "LastModifiedDate >= timestamp('2026-06-01T12:30:00Z')"
  }

  filter {
    where = "StageName in ['Closed Won', 'Negotiation']"
  }

  filter {
    where = "Name contains 'Renewal'"
  }

  filter {
    where = "Region != 'Internal'"
  }

  validate {
    check   = "Id != nil"
    on_fail = "drop"
    message = "VALIDATE_NON_NULL failed for Id"
  }

  validate {
    check   = "Amount != 0"
    on_fail = "drop"
    message = "VALIDATE_NON_ZERO failed for Amount"
  }

  validate {
    check   = "Quantity >= 0"
    on_fail = "fail"
    message = "VALIDATE_NON_NEGATIVE failed for Quantity"
  }

  validate {
    check   = "PostalCode matches '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$'"
    on_fail = "drop"
    message = "VALIDATE_NUMERIC failed for PostalCode"
  }

  mask "Phone" {
    char = "#"
  }

  mask "Ssn" {
    # MASK_FIRST_N: hide the first 5 characters (keep_first/keep_last count the visible ones).
    formula = "substr('*****', 0, len(Ssn)) + substr(Ssn, 5)"
  }

  mask "Email" {
    # MASK_LAST_N: hide the last 6 characters (keep_first/keep_last count the visible ones).
    formula = "len(Email) > 6 ? substr(Email, 0, len(Email) - 6) + 'xxxxxx' : substr('xxxxxx', 0, len(Email))"
  }

  truncate "Description" {
    length = 200
  }

  map {
    all             = true
    except          = ["PostalCode"]
    opportunity_id  = "Id"
    quantity        = "float(Quantity)"
    probability_pct = "int(Probability)"
    is_won          = "string(IsWon)"
    close_time      = "timestamp(CloseDate)"
    modified_day    = "date(LastModifiedDate)"
    # Merge of AccountName, Name: CONCAT_FORMAT " / " read as the separator between the fields.
    display_name    = "concat(AccountName, ' / ', Name)"
    list_price      = "float(Amount + Discount)"
    net_amount      = "float(Amount - Discount)"
    weighted_amount = "Amount * Probability"
    unit_price      = "Amount / Quantity"
  }

  partition {
    keys = ["Region", "StageName"]
  }

  sink "s3" {
    bucket = "acme-lake"
    prefix = "opportunities"
    format = "parquet"
    # AppFlow targetFileSize: 128 MB.
    target_file_size = 134217728
  }
}
