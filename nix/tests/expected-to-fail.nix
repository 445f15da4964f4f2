# The scenarios of ./scenarios.nix that must fail an assertion; test/nix checks that exactly these do.
[
  "duplicateCids"
  "duplicateAddresses"
  "longTapName"
  "splitSubnet"
  "unauthenticatedInstance"
  "guestPoolAndShared"
  "publicGuestWithoutAuth"
  "oauthIncomplete"
  "secretsInStore"
  "badServerName"
  "instanceWithAnOpenServer"
]
