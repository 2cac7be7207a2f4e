//! `granska token`: makes a new bearer token and prints the `[[auth.tokens]]` entry (with its
//! sha256, never the token) to paste into the server's configuration.

use std::process::ExitCode;

use anyhow::Context;
use granska_app::auth::{new_token, token_sha256};
use granska_types::Role;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who the token is for (audit records name it).
    #[arg(long)]
    principal: String,
    /// pacs, radiologist, researcher or admin.
    #[arg(long, value_parser = parse_role)]
    role: Role,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let role = args.role;
    let token = new_token().context("the OS random source failed: no token made")?;
    eprintln!("token for {} ({role}); give it to them, it is shown only once:", args.principal);
    println!("{token}");
    eprintln!(
        "\nadd to the server's config:\n[[auth.tokens]]\nprincipal = {:?}\nrole = \"{role}\"\ntoken_sha256 = \"{}\"",
        args.principal,
        token_sha256(&token)
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse().map_err(|_| format!("expected pacs, radiologist, researcher or admin, found {text:?}"))
}
