//! Shell completions and the man pages, written from the clap definitions of `cli` by
//! clap's own generators (`clap_complete`, `clap_mangen`), so they cannot drift from the
//! commands: `rotgen completions SHELL` and `rotgen man [COMMAND]` print them. No I/O here.

use clap::Command;

/// The shells `rotgen completions` writes for (bash, elvish, fish, powershell, zsh).
pub use clap_complete::Shell;

/// The completion script for `shell`.
pub fn completions(cmd: Command, shell: Shell) -> String {
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The man pages: `rotgen.1`, then `rotgen-COMMAND.1` for each command, as (file name,
/// roff text).
pub fn man_pages(cmd: Command) -> Vec<(String, String)> {
    let mut cmd = cmd;
    // Builds the display names (`rotgen-build`) the pages of the commands are titled by.
    cmd.build();
    let mut pages = vec![page(&cmd)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(page(sub));
    }
    pages
}

/// The page of one command (`rotgen` or `rotgen COMMAND`), if there is one.
pub fn man_page(cmd: Command, command: Option<&str>) -> Option<String> {
    let wanted = match command {
        None => cmd.get_name().to_string(),
        Some(c) => format!("{}-{c}", cmd.get_name()),
    };
    man_pages(cmd)
        .into_iter()
        .find(|(file, _)| file.strip_suffix(".1") == Some(wanted.as_str()))
        .map(|(_, text)| text)
}

fn page(cmd: &Command) -> (String, String) {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut out);
    (
        format!("{name}.1"),
        String::from_utf8_lossy(&out).into_owned(),
    )
}
