#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    hsm_tool::main()
}
