flow "sinks" {
  source "file" {
    path   = "in.csv"
    fields = "Id" # error: list of string required
    plugin = ["x"] # error: Incorrect attribute value type
  }
  sink "file" "a" {
    path  = "out/"
    write = "merge" # error: Invalid write value
    key   = "id" # error: list of string required
  }
  sink "file" "b" {
    path  = "out/"
    write = "upsrt" # error: Did you mean "upsert"?
  }
  sink "file" "" { # error: Empty sink name
    path = "out/"
  }
  sink "file" "c" {
    path = "out/"
    table = "t" # error: Unsupported argument
  }
}
