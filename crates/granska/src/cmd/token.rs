//! `granska token`: makes a new bearer token and prints the `[[auth.tokens]]` entry (with its
//! sha256, never the token) to paste into the server's configuration.

use std::process::ExitCode;

use granska_server::auth::{Role, new_token, token_sha256};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who the token is for (audit records name it).
    #[arg(long)]
    principal: String,
    /// pacs, radiologist, researcher or admin.
    #[arg(long, value_parser = ["pacs", "radiologist", "researcher", "admin"])]
    role: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let role = Role::parse(&args.role).expect("clap checked the value");
    let token = new_token();
    eprintln!("token for {} ({role}); give it to them, it is shown only once:", args.principal);
    println!("{token}");
    eprintln!(
        "\nadd to the server's config:\n[[auth.tokens]]\nprincipal = {:?}\nrole = \"{role}\"\ntoken_sha256 = \"{}\"",
        args.principal,
        token_sha256(&token)
    );
    Ok(ExitCode::SUCCESS)
}
