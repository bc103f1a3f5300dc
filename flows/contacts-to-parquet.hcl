# Contacts from a CSV export → cleaned, masked, partitioned Parquet.
# `make demo` runs this flow on testdata/contacts.csv; no account needed.
# Paths are relative to the directory sluice runs in.

flow "contacts_to_parquet" {
  description = "Clean a contact export and store it as Parquet, one directory per country"

  source "file" {
    path   = "testdata/contacts.csv"
    format = "csv"
  }

  # Drop contacts without an address and the test domain.
  filter {
    where = "Email != nil && !(Email endsWith '@example.invalid')"
  }

  map {
    id         = "Id"
    name       = "FirstName + ' ' + LastName"
    title      = "Title"
    email      = "lower(Email)"
    country    = "Country"
    revenue    = "AnnualRevenue"
    big_client = "AnnualRevenue > 25000"
    modified   = "LastModifiedDate"
  }

  # Malformed addresses go to the dead-letter file with this message.
  validate {
    check   = "email matches '^[^@ ]+@[^@ ]+$'"
    on_fail = "dead_letter"
    message = "email is not an address"
  }

  mask "email" {
    keep_last = 8
  }

  partition {
    keys = ["country"]
  }

  sink "file" "warehouse" {
    path   = "out/contacts"
    format = "parquet"
  }

  on_error {
    mode        = "continue"
    dead_letter = "out/rejected"
  }
}
