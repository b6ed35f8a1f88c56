//! Connection strings in logs: never with a password or other secret.

/// Replaces the password of a `mongodb://user:password@host` URI, and the
/// value of every query option that holds a secret (a name containing
/// `password`, `secret` or `token`, and `authMechanismProperties`), with `****`.
///
/// ```
/// use herald_ingest::mongo::uri::redact;
/// assert_eq!(redact("mongodb://ann:s3cret@db:27017/?replicaSet=rs0"), "mongodb://ann:****@db:27017/?replicaSet=rs0");
/// assert_eq!(redact("mongodb://db:27017"), "mongodb://db:27017");
/// assert_eq!(
///     redact("mongodb://db/?tls=true&tlsCertificateKeyFilePassword=pw"),
///     "mongodb://db/?tls=true&tlsCertificateKeyFilePassword=****"
/// );
/// ```
pub fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((credentials, hosts)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let masked = if credentials.contains(':') {
                format!("{user}:****")
            } else {
                user.to_owned()
            };
            format!("{masked}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query(query)),
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// True for a query option whose value is a secret.
fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| name.contains(word))
        || name == "authmechanismproperties"
}

fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, option) in query.split(['&', ';']).enumerate() {
        if i > 0 {
            // Keep the separator the URI used.
            let at = query_separator_at(query, i);
            out.push(at);
        }
        match option.split_once('=') {
            Some((name, _)) if is_secret_option(name) => {
                out.push_str(name);
                out.push_str("=****");
            }
            _ => out.push_str(option),
        }
    }
    out
}

/// The separator before the `index`-th option of `query`.
fn query_separator_at(query: &str, index: usize) -> char {
    query
        .chars()
        .filter(|c| matches!(c, '&' | ';'))
        .nth(index - 1)
        .unwrap_or('&')
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_in_query_options_are_masked() {
        assert_eq!(
            redact(
                "mongodb://u:p@a,b/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc;sslPEMKeyPassword=x"
            ),
            "mongodb://u:****@a,b/db?authMechanism=MONGODB-AWS&authMechanismProperties=****;sslPEMKeyPassword=****"
        );
        assert_eq!(
            redact("mongodb+srv://h/?w=majority"),
            "mongodb+srv://h/?w=majority"
        );
    }
}
