//! IAM over the query protocol (a form-encoded POST answered in XML): the role calls a user
//! scripts the README's set-up with (`CreateRole`, `GetRole`, `PutRolePolicy`,
//! `DeleteRolePolicy`, `DeleteRole`), as IAM answers them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::http_util::{Reply, xml_escape};

/// A role the emulator knows.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) id: String,
    pub(crate) created: DateTime<Utc>,
    /// The trust policy, as given (the Bedrock trust policy for roles made from an ARN).
    pub(crate) trust_policy: String,
    /// Inline policies by name.
    pub(crate) policies: BTreeMap<String, String>,
}

impl Role {
    /// A role from its ARN (`arn:aws:iam::<account>:role/<path/>name`).
    pub(crate) fn from_arn(arn: &str) -> Option<Role> {
        let resource = arn.split_once(":role/")?.1;
        let (path, name) = match resource.rsplit_once('/') {
            Some((path, name)) => (format!("/{path}/"), name),
            None => ("/".to_owned(), resource),
        };
        if name.is_empty() {
            return None;
        }
        let digest = crate::faults::mix(0, 9, arn.as_bytes());
        Some(Role {
            arn: arn.to_owned(),
            name: name.to_owned(),
            path,
            id: format!("AROA{digest:016X}"),
            created: Utc::now(),
            trust_policy: TRUST_POLICY.to_owned(),
            policies: BTreeMap::new(),
        })
    }
}

const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Answers one IAM query-protocol request; `account` is the account new roles belong to.
pub(crate) fn handle(
    roles: &std::sync::RwLock<BTreeMap<String, Role>>,
    account: &str,
    body: &[u8],
    request_id: &str,
) -> Reply {
    let params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = match params.get("Action").map(String::as_str) {
        Some(
            action @ ("GetRole" | "CreateRole" | "PutRolePolicy" | "DeleteRolePolicy"
            | "DeleteRole"),
        ) => action,
        Some(other) => {
            return error(
                400,
                "Sender",
                "InvalidAction",
                &format!("Could not find operation {other} for version 2010-05-08"),
                request_id,
            );
        }
        None => return error(400, "Sender", "MissingAction", "Missing Action", request_id),
    };
    let required = |name: &str, member: &str| {
        params.get(name).ok_or_else(|| {
            error(
                400,
                "Sender",
                "ValidationError",
                &format!(
                    "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
                ),
                request_id,
            )
        })
    };
    let no_such_role = |name: &str| {
        error(
            404,
            "Sender",
            "NoSuchEntity",
            &format!("The role with name {name} cannot be found."),
            request_id,
        )
    };
    let not_json = |what: &str| {
        error(
            400,
            "Sender",
            "MalformedPolicyDocument",
            &format!("This policy contains invalid Json: the {what} is not a JSON object"),
            request_id,
        )
    };
    let is_json_object =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object());
    let name = match required("RoleName", "roleName") {
        Ok(name) => name.clone(),
        Err(reply) => return reply,
    };
    let mut roles = roles
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let find = |roles: &BTreeMap<String, Role>| {
        roles
            .iter()
            .find(|(_, r)| r.name == name)
            .map(|(arn, _)| arn.clone())
    };
    let done = |action: &str| {
        Reply::xml(
            200,
            format!(
                "<{action}Response xmlns=\"{NAMESPACE}\"><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
            ),
        )
    };
    match action {
        "CreateRole" => {
            let trust = match required("AssumeRolePolicyDocument", "assumeRolePolicyDocument") {
                Ok(trust) => trust.clone(),
                Err(reply) => return reply,
            };
            if !is_valid_role_name(&name) {
                return error(
                    400,
                    "Sender",
                    "ValidationError",
                    &format!(
                        "1 validation error detected: Value '{name}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
                    ),
                    request_id,
                );
            }
            if !is_json_object(&trust) {
                return not_json("trust policy");
            }
            if find(&roles).is_some() {
                return error(
                    409,
                    "Sender",
                    "EntityAlreadyExists",
                    &format!("Role with name {name} already exists."),
                    request_id,
                );
            }
            let path = params.get("Path").cloned().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') || !path.ends_with('/') {
                return error(
                    400,
                    "Sender",
                    "ValidationError",
                    "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
                    request_id,
                );
            }
            let arn = format!("arn:aws:iam::{account}:role{path}{name}");
            let Some(mut role) = Role::from_arn(&arn) else {
                return no_such_role(&name);
            };
            role.trust_policy = trust;
            let reply = role_reply("CreateRole", &role, request_id);
            roles.insert(arn, role);
            reply
        }
        "GetRole" => match find(&roles).and_then(|arn| roles.get(&arn)) {
            Some(role) => role_reply("GetRole", role, request_id),
            None => no_such_role(&name),
        },
        "PutRolePolicy" => {
            let (policy_name, document) = match (
                required("PolicyName", "policyName"),
                required("PolicyDocument", "policyDocument"),
            ) {
                (Ok(policy), Ok(document)) => (policy.clone(), document.clone()),
                (Err(reply), _) | (_, Err(reply)) => return reply,
            };
            if !is_json_object(&document) {
                return not_json("policy");
            }
            match find(&roles).and_then(|arn| roles.get_mut(&arn)) {
                Some(role) => {
                    role.policies.insert(policy_name, document);
                    done("PutRolePolicy")
                }
                None => no_such_role(&name),
            }
        }
        "DeleteRolePolicy" => {
            let policy_name = match required("PolicyName", "policyName") {
                Ok(policy) => policy.clone(),
                Err(reply) => return reply,
            };
            match find(&roles)
                .and_then(|arn| roles.get_mut(&arn))
                .map(|role| role.policies.remove(&policy_name).is_some())
            {
                Some(true) => done("DeleteRolePolicy"),
                Some(false) => error(
                    404,
                    "Sender",
                    "NoSuchEntity",
                    &format!("The role policy with name {policy_name} cannot be found."),
                    request_id,
                ),
                None => no_such_role(&name),
            }
        }
        // DeleteRole
        _ => match find(&roles) {
            Some(arn) if roles.get(&arn).is_some_and(|r| !r.policies.is_empty()) => error(
                409,
                "Sender",
                "DeleteConflict",
                "Cannot delete entity, must delete policies first.",
                request_id,
            ),
            Some(arn) => {
                roles.remove(&arn);
                done("DeleteRole")
            }
            None => no_such_role(&name),
        },
    }
}

/// IAM's role name rule: 1 to 64 of letters, digits and `+=,.@_-`.
fn is_valid_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// `<{action}Response>` with the role, as CreateRole and GetRole answer.
fn role_reply(action: &str, role: &Role, request_id: &str) -> Reply {
    let policy: String = form_urlencoded::byte_serialize(role.trust_policy.as_bytes()).collect();
    let xml = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result><Role>\
         <Path>{}</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn>\
         <CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>\
         <MaxSessionDuration>3600</MaxSessionDuration></Role></{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>",
        xml_escape(&role.path),
        xml_escape(&role.name),
        role.id,
        xml_escape(&role.arn),
        role.created.format("%Y-%m-%dT%H:%M:%SZ"),
        xml_escape(&policy),
    );
    Reply::xml(200, xml)
}

/// An IAM error in the query protocol's `ErrorResponse` shape.
pub(crate) fn error(status: u16, kind: &str, code: &str, message: &str, request_id: &str) -> Reply {
    Reply::xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
             <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            xml_escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_and_paths_come_from_the_arn() -> Result<(), Box<dyn std::error::Error>> {
        let role = Role::from_arn("arn:aws:iam::000000000000:role/service/BatchRole")
            .ok_or("expected value missing")?;
        assert_eq!(role.name, "BatchRole");
        assert_eq!(role.path, "/service/");
        assert!(Role::from_arn("arn:aws:iam::000000000000:user/x").is_none());
        Ok(())
    }

    #[test]
    fn get_role_finds_known_roles_only() -> Result<(), Box<dyn std::error::Error>> {
        let role =
            Role::from_arn("arn:aws:iam::000000000000:role/r1").ok_or("expected value missing")?;
        let roles = std::sync::RwLock::new(BTreeMap::from([(role.arn.clone(), role)]));
        let found = handle(
            &roles,
            "000000000000",
            b"Action=GetRole&Version=2010-05-08&RoleName=r1",
            "id",
        );
        assert_eq!(found.status, 200);
        assert!(String::from_utf8_lossy(&found.body).contains("<RoleName>r1</RoleName>"));
        let missing = handle(
            &roles,
            "000000000000",
            b"Action=GetRole&Version=2010-05-08&RoleName=r2",
            "id",
        );
        assert_eq!(missing.status, 404);
        assert!(String::from_utf8_lossy(&missing.body).contains("<Code>NoSuchEntity</Code>"));
        Ok(())
    }
}
