//! Who a message mentions, as Mattermost reads it: `@username`, and the channel-wide `@channel`,
//! `@all` and `@here`, outside code spans and code blocks. The counting itself happens in the
//! database, in the statement that creates the post (see `store::posts`).

/// What a message mentions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mentions {
    /// Lowercased candidate usernames (`@alice.` also yields `alice`, as Mattermost tries the name
    /// without trailing punctuation).
    pub usernames: Vec<String>,
    /// `@channel` or `@all`: every member who does not ignore channel mentions.
    pub channel: bool,
    /// `@here`: every online member who does not ignore channel mentions.
    pub here: bool,
}

/// The most usernames one message is checked for.
const MAX_CANDIDATES: usize = 200;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'
}

/// The message without fenced code blocks (```) and inline code spans (`...`).
fn without_code(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_block = false;
    for line in message.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            out.push('\n');
            continue;
        }
        if in_block {
            out.push('\n');
            continue;
        }
        let mut in_span = false;
        for c in line.chars() {
            if c == '`' {
                in_span = !in_span;
                out.push(' ');
            } else if !in_span {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Parse the mentions of a message.
pub fn parse(message: &str) -> Mentions {
    let text = without_code(message);
    let mut m = Mentions::default();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' || (i > 0 && (is_name_char(chars[i - 1]) || chars[i - 1] == '@')) {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && is_name_char(chars[end]) {
            end += 1;
        }
        i = end;
        let word: String = chars[start..end].iter().collect::<String>().to_lowercase();
        let mut name = word.as_str();
        loop {
            match name {
                "" => break,
                "channel" | "all" => m.channel = true,
                "here" => m.here = true,
                n if !n.starts_with(|c: char| c.is_ascii_alphanumeric()) => {}
                n if m.usernames.len() < MAX_CANDIDATES && !m.usernames.iter().any(|u| u == n) => {
                    m.usernames.push(n.to_owned())
                }
                _ => {}
            }
            let trimmed = name.trim_end_matches(['.', '-', '_']);
            if trimmed == name {
                break;
            }
            name = trimmed;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_channel_wide_mentions() {
        let m = parse("hi @Alice, @bob.smith and @carol. see @channel");
        assert_eq!(m.usernames, vec!["alice", "bob.smith", "carol.", "carol"]);
        assert!(m.channel && !m.here);
        assert!(parse("@all").channel);
        assert!(parse("@here now").here);
        assert!(!parse("@hereafter").here, "a longer name is a username");
        assert_eq!(parse("@hereafter").usernames, vec!["hereafter"]);
    }

    #[test]
    fn emails_code_and_bare_ats_are_not_mentions() {
        assert_eq!(parse("mail a@b.com"), Mentions::default());
        assert_eq!(parse("`@alice` and\n```\n@bob\n```\n"), Mentions::default());
        assert_eq!(parse("@ @@ @-"), Mentions::default());
        assert_eq!(parse("(@dave)").usernames, vec!["dave"]);
    }
}
