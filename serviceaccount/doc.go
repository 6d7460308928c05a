// Package serviceaccount is DT's service-account key API, for programs that
// replace a key: the rule that names a service account by its email
// ([FromEmail]), and a small client ([Client]) that creates a key (its
// secret shown once), lists an account's keys page by page and deletes one,
// under https://api.disruptive-technologies.com/v2:
//
//	POST   /projects/{project}/serviceaccounts/{sa}/keys        → {"key": {"name","id","createTime"}, "secret"}
//	GET    /projects/{project}/serviceaccounts/{sa}/keys        → {"keys": [...], "nextPageToken"}
//	DELETE /projects/{project}/serviceaccounts/{sa}/keys/{key}
//
// [Prove] exchanges a new key for a token, waiting out the moment a new key
// may take to be accepted: a rotation switches to a key only once it has.
// Both the command's `rotate` and the Vault engine's rotation stand on it;
// how they keep the new secret is theirs.
package serviceaccount
