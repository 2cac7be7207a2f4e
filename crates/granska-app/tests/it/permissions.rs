//! The role × action table, stated once in the core: pinned here as a snapshot, and checked
//! through `Caller::authorize`, which every use case calls first.

use granska_app::{Action, AppError, Caller, Edge};
use granska_types::Role;
use strum::VariantArray;

#[test]
fn the_permission_table_is_role_by_action() {
    let mut table = String::new();
    for action in Action::VARIANTS {
        table += &format!("{:<26}", action.name());
        for role in Role::VARIANTS {
            let caller = Caller { principal: "p".into(), role: *role, edge: Edge::Grpc };
            let verdict = match caller.authorize(*action) {
                Ok(()) => "allowed",
                Err(AppError::Forbidden { role: r, action: a }) => {
                    assert_eq!((r, a), (*role, *action));
                    "denied"
                }
                Err(other) => panic!("unexpected {other}"),
            };
            table += &format!(" {verdict:<11}");
        }
        table = table.trim_end().to_owned() + "\n";
    }
    expect_test::expect![[r#"
        Ingest.Upload              allowed     denied      denied      allowed
        Ingest.CompleteStudy       allowed     denied      denied      allowed
        Ingest.GetStudy            denied      denied      allowed     allowed
        Worklist.List              denied      allowed     denied      allowed
        Worklist.Watch             denied      allowed     denied      allowed
        Worklist.ClaimNext         denied      allowed     denied      allowed
        Worklist.Release           denied      allowed     denied      allowed
        Worklist.SubmitRead        denied      allowed     denied      allowed
        Models.Get                 denied      denied      allowed     allowed
        Ingest.ListNeedsAttention  denied      denied      denied      allowed
        Ingest.RetryStudy          denied      denied      denied      allowed
        Ingest.RemoveInstance      denied      denied      denied      allowed
        Audit.Read                 denied      denied      denied      allowed
        Ingest.GetReport           denied      denied      denied      allowed
        Station.ViewImage          denied      allowed     denied      allowed
        Station.AiResult           denied      allowed     denied      allowed
        Station.Overview           denied      denied      denied      allowed
    "#]]
    .assert_eq(&table);
}
