#!/usr/bin/env bash
# The editors test: tokenizes every Mandate source of the repository with the TextMate
# grammar (vscode-textmate and Oniguruma, as VS Code does) and checks the scopes.
# Installs the two npm packages from package-lock.json the first time.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/vscode-textmate ] || [ ! -d node_modules/vscode-oniguruma ]; then
  npm ci --no-audit --no-fund
fi
node tokenize.test.js
