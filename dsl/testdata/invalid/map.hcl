flow "maps" {
  source "file" { path = "in.csv" }
  map {} # error: Empty map
  map {
    except = ["a"] # error: except without all
    id     = "Id"
  }
  map {
    id    = 5 # error: Invalid formula
    email = lower(Email) # error: must be written as a quoted string
  }
  map {
    all    = "yes" # error: a bool is required
    except = "Secret" # error: list of string required
  }
  sink "file" { path = "out/" }
}
