// The Mandate extension: the language (comments, brackets, the TextMate grammar) comes
// from package.json; this file starts `mandate lsp` as a language server over stdio.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;
let output;

function executable() {
  const configured = vscode.workspace.getConfiguration('mandate').get('path');
  return typeof configured === 'string' && configured.trim() !== '' ? configured.trim() : 'mandate';
}

async function startClient() {
  const command = executable();
  const run = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient(
    'mandate',
    'Mandate',
    { run, debug: run },
    {
      documentSelector: [
        { scheme: 'file', language: 'mandate' },
        { scheme: 'untitled', language: 'mandate' },
      ],
      outputChannel: output,
      synchronize: {
        // Packages span folders and read mandate.toml: tell the server when either changes.
        fileEvents: vscode.workspace.createFileSystemWatcher('**/{*.mandate,mandate.toml}'),
      },
    },
  );
  try {
    await client.start();
  } catch (err) {
    const reason = err && err.message ? err.message : String(err);
    client = undefined;
    const choice = await vscode.window.showErrorMessage(
      `Mandate: could not start \`${command} lsp\` (${reason}). Set "mandate.path" to the mandate executable.`,
      'Open Settings',
    );
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'mandate.path');
    }
  }
}

async function stopClient() {
  if (!client) return;
  const running = client;
  client = undefined;
  try {
    await running.stop();
  } catch (_) {
    // The server may already have exited; nothing is left to stop.
  }
}

async function restart() {
  await stopClient();
  await startClient();
}

async function activate(context) {
  output = vscode.window.createOutputChannel('Mandate');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('mandate.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('mandate.path')) restart();
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
