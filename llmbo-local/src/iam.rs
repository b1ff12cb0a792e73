//! IAM `GetRole` over the query protocol: a form-encoded POST answered in XML.

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
        })
    }
}

const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Answers one IAM query-protocol request.
pub(crate) fn handle(roles: &BTreeMap<String, Role>, body: &[u8], request_id: &str) -> Reply {
    let params: BTreeMap<String, String> = form_pairs(body);
    match params.get("Action").map(String::as_str) {
        Some("GetRole") => {}
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
    }
    let Some(name) = params.get("RoleName") else {
        return error(
            400,
            "Sender",
            "ValidationError",
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null",
            request_id,
        );
    };
    let Some(role) = roles.values().find(|r| &r.name == name) else {
        return error(
            404,
            "Sender",
            "NoSuchEntity",
            &format!("The role with name {name} cannot be found."),
            request_id,
        );
    };
    let policy = urlencoding::encode(TRUST_POLICY);
    let xml = format!(
        "<GetRoleResponse xmlns=\"{NAMESPACE}\"><GetRoleResult><Role>\
         <Path>{}</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn>\
         <CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>\
         <MaxSessionDuration>3600</MaxSessionDuration></Role></GetRoleResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetRoleResponse>",
        xml_escape(&role.path),
        xml_escape(&role.name),
        role.id,
        xml_escape(&role.arn),
        role.created.format("%Y-%m-%dT%H:%M:%SZ"),
        policy,
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

fn form_pairs(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((decode(key)?, decode(value)?))
        })
        .collect()
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
        let roles = BTreeMap::from([(role.arn.clone(), role)]);
        let found = handle(
            &roles,
            b"Action=GetRole&Version=2010-05-08&RoleName=r1",
            "id",
        );
        assert_eq!(found.status, 200);
        assert!(String::from_utf8_lossy(&found.body).contains("<RoleName>r1</RoleName>"));
        let missing = handle(
            &roles,
            b"Action=GetRole&Version=2010-05-08&RoleName=r2",
            "id",
        );
        assert_eq!(missing.status, 404);
        assert!(String::from_utf8_lossy(&missing.body).contains("<Code>NoSuchEntity</Code>"));
        Ok(())
    }
}
