connection "salesforce" "prod" {
  login_url = "https://login.example.com"
  client_id = "x"
}

flow "body" {
  descripton = "typo" # error: Did you mean "description"?
  source = "file" # error: is a block, not an argument
  transform {} # error: Unsupported block type
  connection "salesforce" "other" {} # error: top level of a file
  source "file" { path = "in.csv" }
  source "file" { path = "again.csv" } # error: Duplicate source block
  sink "file" { path = "out/" }
  sink "file" { path = "out2/" } # error: Duplicate sink name
  sink "file" "a" "b" { path = "out3/" } # error: Extraneous label for sink
  sink { path = "out4/" } # error: Missing type label for sink
}
