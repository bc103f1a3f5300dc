connection "salesforce" "env" {
  login_url = env("SF_LOGIN_URL")
  client_id = env("SF_NOT_SET") # error: "SF_NOT_SET" is not set
}

connection "salesforce" "file" {
  login_url   = "https://login.example.com"
  client_id   = "x"
  private_key = file("no-such-key.pem") # error: cannot read the file
}

connection "salesforce" "fn" {
  login_url = upper("x") # error: no function named "upper"
  client_id = env() # error: Not enough function arguments
}

connection "salesforce" "dir" {
  login_url   = "https://login.example.com"
  client_id   = "x"
  private_key = file(".") # error: is not a regular file
}
