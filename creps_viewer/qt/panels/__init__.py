"""One widget per tab of the Controls dock."""
