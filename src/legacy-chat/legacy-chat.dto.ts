import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsAnyUuid } from '../common/query-params.js';
import { TrimmedText } from '../common/validation.js';

export class LegacyChatRequestDto {
  /** Trimmed; 1 to 32,000 characters. */
  @TrimmedText({ minLength: 1, maxLength: 32000 })
  text: string;

  /** The dossier to continue; omitted: a new dossier. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;
}
