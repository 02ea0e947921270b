//! The console's view of a tenant and of a call, made from the records' own types. They live
//! here, beside the types they make, because `tenants` and `calls` sit below the console and
//! never reach it (docs/architecture.md, "Layers").

use super::{CallQuery, ConsoleTarget};
use crate::calls::Call;
use crate::tenants::Tenant;

impl From<&Tenant> for ConsoleTarget {
    /// Where and how to log into a tenant's console.
    fn from(tenant: &Tenant) -> Self {
        ConsoleTarget {
            tenant_id: tenant.id,
            tenant_name: tenant.name.clone(),
            base_url: tenant.console.base_url.clone(),
            username: tenant.console.username.clone(),
            password: tenant.console.password.clone(),
            timezone: tenant.timezone,
        }
    }
}

impl From<&Call> for CallQuery {
    /// The call as the console looks for its recording.
    fn from(call: &Call) -> Self {
        CallQuery {
            call_id: call.id,
            uniqueid: call.uniqueid.clone(),
            caller: call.src.clone(),
            callee: call.dst.clone(),
            call_date_utc: call.call_date,
            recordfiles: call.recordfiles.clone(),
        }
    }
}
