// Writes src/metadata.ts: what the @nestjs/swagger CLI plugin reads from the DTOs and controllers
// (class-validator rules, types, nullability, doc comments). The app loads it at boot, so the OpenAPI document
// is identical whether the code was compiled by tsc, SWC or jest. Options come from nest-cli.json.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';

const nestCli = JSON.parse(readFileSync(new URL('../nest-cli.json', import.meta.url), 'utf8'));
const swagger = nestCli.compilerOptions.plugins.find((p) => p.name === '@nestjs/swagger');
const target = new URL('../src/metadata.ts', import.meta.url);

// The app imports ./metadata.js; give the type checker a placeholder on a fresh clone.
if (!existsSync(target)) writeFileSync(target, 'export default async () => ({});\n');

new PluginMetadataGenerator().generate({
  visitors: [
    new ReadonlyVisitor({ ...swagger.options, pathToSource: new URL('../src', import.meta.url).pathname }),
  ],
  outputDir: new URL('../src', import.meta.url).pathname,
  filename: 'metadata.ts',
  tsconfigPath: 'tsconfig.build.json',
  watch: false,
  printDiagnostics: false,
});
