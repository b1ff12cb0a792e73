//! IAM: the role check before anything is created.

use aws_sdk_bedrock::error::ProvideErrorMetadata;

use super::{Aws, aws_error};
use crate::error::Error;

impl Aws {
    /// Checks the role exists (IAM GetRole takes the role's name, not its ARN). A caller not
    /// allowed to read roles cannot check; that is logged, not fatal.
    pub(crate) async fn check_role(&self, role_arn: &str) -> Result<(), Error> {
        let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        match self.iam.get_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_no_such_entity_exception()) {
                    Err(Error::RoleNotFound {
                        role_arn: role_arn.to_owned(),
                    })
                } else if err.code() == Some("AccessDenied") {
                    tracing::warn!(
                        role_arn,
                        "not allowed to call iam:GetRole; the role was not checked"
                    );
                    Ok(())
                } else {
                    Err(aws_error("GetRole", err))
                }
            }
        }
    }
}
