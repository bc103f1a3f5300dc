flow "masks" {
  source "file" { path = "in.csv" }
  mask {} # error: Missing field label for mask
  mask "a" {
    hash      = "sha256"
    keep_last = 4 # error: Conflicting mask options
  }
  mask "b" {
    hash    = "sha256"
    formula = "x" # error: Conflicting mask options
  }
  mask "c" { hash = "sha1" } # error: Invalid hash value
  mask "d" { char = "##" } # error: exactly one character
  mask "e" { keep_last = -1 } # error: Invalid keep_last value
  mask "f" { keep_first = "two" } # error: a number is required
  mask "g" { formula = "${1}" } # error: Invalid formula
  mask "h" { keeplast = 4 } # error: Did you mean "keep_last"?
  mask "" {} # error: Empty field name
  sink "file" { path = "out/" }
}
