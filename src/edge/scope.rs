//! The scope decision: does the caller's identity carry what the route demands?

use super::config::RouteAuth;
use super::deny::Denial;
use super::identity::Identity;
use super::route::Route;

/// Decides whether `identity` may use `route`: every scope of `scopes`, and at least one of `any_scopes` when that
/// list is not empty. The refusal names every scope the route asks for (RFC 6750 3.1).
pub fn decide(route: &Route, identity: &Identity) -> Result<(), Denial> {
    let RouteAuth::Required { all, any } = &route.auth else {
        return Ok(());
    };
    let all_ok = all.iter().all(|s| identity.has_scope(s));
    let any_ok = any.is_empty() || any.iter().any(|s| identity.has_scope(s));
    if all_ok && any_ok {
        Ok(())
    } else {
        Err(Denial::InsufficientScope { scope: route.scope_hint.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::config::{DefaultPolicy, RouteConfig};
    use crate::edge::route::RouteTable;

    fn table(all: &[&str], any: &[&str]) -> RouteTable {
        let auth = RouteAuth::Required {
            all: all.iter().map(|s| s.to_string()).collect(),
            any: any.iter().map(|s| s.to_string()).collect(),
        };
        RouteTable::new(
            &[RouteConfig {
                name: "r".into(),
                path: "/".into(),
                methods: vec![],
                auth,
                rate_limit: None,
                close_streams_on_expiry: true,
            }],
            DefaultPolicy::Deny,
        )
    }

    fn who(scopes: &[&str]) -> Identity {
        Identity::new(Some("u"), None, "https://i", scopes.iter(), None, None).unwrap()
    }

    #[test]
    fn all_scopes_are_needed() {
        let t = table(&["a", "b"], &[]);
        let r = t.find("/", &http::Method::GET).unwrap();
        assert!(decide(r, &who(&["a", "b", "c"])).is_ok());
        assert_eq!(decide(r, &who(&["a"])), Err(Denial::InsufficientScope { scope: "a b".into() }));
    }

    #[test]
    fn one_of_any_scopes_is_enough() {
        let t = table(&[], &["x", "y"]);
        let r = t.find("/", &http::Method::GET).unwrap();
        assert!(decide(r, &who(&["y"])).is_ok());
        assert!(decide(r, &who(&["z"])).is_err());
    }
}
